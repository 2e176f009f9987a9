"""Settings read from the environment (DESIGN.md §3)."""

import ipaddress
import os
import secrets
from pathlib import Path


class ConfigError(ValueError):
    """A setting in the environment is malformed."""


def _instance_dir() -> Path:
    return Path(os.environ.get("HUB_INSTANCE_DIR", Path.cwd() / "instance")).resolve()


def _secret_key(instance_dir: Path) -> str:
    """Return HUB_SECRET_KEY, or a key generated once into the instance folder."""
    if os.environ.get("HUB_SECRET_KEY"):
        return os.environ["HUB_SECRET_KEY"]
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _networks(value: str) -> list[str]:
    """Parse HUB_ALLOW_PRIVATE_NETWORKS into a list of CIDRs, failing loudly."""
    networks = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"HUB_ALLOW_PRIVATE_NETWORKS: {part!r} is not a CIDR network") from exc
    return networks


def _proxies(value: str) -> int:
    """Parse HUB_TRUST_PROXY: how many reverse proxies in front of the hub set X-Forwarded-* headers."""
    try:
        count = int(value.strip() or 0)
    except ValueError as exc:
        raise ConfigError(f"HUB_TRUST_PROXY must be a number of proxies (0, 1 …), not {value!r}") from exc
    if count < 0:
        raise ConfigError("HUB_TRUST_PROXY cannot be negative")
    return count


def _positive_int(name: str, default: int) -> int:
    """An integer setting, failing loudly when it is not a positive number."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a positive whole number, not {value!r}")
    return int(value)


def _positive_number(name: str, default: float) -> float:
    """A number setting (seconds or a count), failing loudly when it is not a positive number."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = type(default)(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{name} must be a positive number, not {value!r}")
    return number


# Delivery worker tuning: (default, meaning). README lists them for operators.
DELIVERY_SETTINGS = {
    "HUB_DELIVERY_RETRY_BASE": (30.0, "first retry delay in seconds; doubles per attempt"),
    "HUB_DELIVERY_PAUSE_BASE": (60.0, "first pause of a failing domain in seconds"),
    "HUB_DELIVERY_BATCH": (250, "rows claimed per batch"),
    "HUB_DELIVERY_CONCURRENCY": (1000, "requests in flight; twice as many rows may be claimed"),
    "HUB_DELIVERY_PER_HOST": (8, "requests in flight to one host"),
    "HUB_DELIVERY_TIMEOUT": (20.0, "total deadline of one POST, connect to last byte"),
    "HUB_DELIVERY_LOCK": (0.0, "seconds a claim holds its rows; 0: three deadlines plus a minute"),
    # -1 (unset): one per CPU this process may use
    "HUB_DELIVERY_SIGNING_THREADS": (-1, "threads that sign deliveries; 0: the event loop signs"),
}


def check_folders(config: dict) -> None:
    """Create the instance and media folders when missing; ConfigError when this process cannot write
    to them (a volume owned by another user: the hub would start, then fail at the first upload)."""
    for name in ("HUB_INSTANCE_DIR", "HUB_MEDIA_DIR"):
        folder = Path(config[name])
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{name}: cannot create or reach {folder}: {exc.strerror}") from exc
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{name}: {folder} is not writable by this process (user id {os.geteuid()}); "
                              f"give that user the folder, e.g. chown -R {os.geteuid()} {folder}")


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment, then apply overrides."""
    env = os.environ
    overrides = overrides or {}
    instance_dir = Path(overrides.get("HUB_INSTANCE_DIR") or _instance_dir())
    scheme = env.get("HUB_SCHEME", "https")
    if scheme not in ("http", "https"):
        raise ConfigError(f"HUB_SCHEME must be http or https, not {scheme!r}")
    domain = env.get("HUB_DOMAIN", "localhost:5000").strip().lower()
    if not domain or "/" in domain or "@" in domain:
        raise ConfigError(f"HUB_DOMAIN must be host[:port], not {domain!r}")
    media_dir = Path(env.get("HUB_MEDIA_DIR") or instance_dir / "media")
    config = {
        "HUB_DOMAIN": domain,
        "HUB_SCHEME": scheme,
        "HUB_INSTANCE_DIR": str(instance_dir),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'hub.db'}",
        "HUB_ALLOW_PRIVATE_NETWORKS": _networks(env.get("HUB_ALLOW_PRIVATE_NETWORKS", "")),
        "HUB_MEDIA_DIR": str(media_dir),
        "HUB_MEDIA_URL": env.get("HUB_MEDIA_URL", "").rstrip("/"),
        "HUB_TRUST_PROXY": _proxies(env.get("HUB_TRUST_PROXY", "")),
        "HUB_SMTP_URL": env.get("HUB_SMTP_URL", ""),
        "HUB_MAIL_FROM": env.get("HUB_MAIL_FROM", f"hub@{domain.split(':')[0]}"),
        "HUB_ARGON2_TIME_COST": _positive_int("HUB_ARGON2_TIME_COST", 3),
        "HUB_ARGON2_MEMORY_KIB": _positive_int("HUB_ARGON2_MEMORY_KIB", 65536),
        **{name: _positive_number(name, default) for name, (default, _) in DELIVERY_SETTINGS.items()},
        "HUB_PUBLIC_CACHE_SECONDS": _positive_number("HUB_PUBLIC_CACHE_SECONDS", 5.0),
        # Days federation bookkeeping is kept (hub.services.retention; README explains both).
        "HUB_KEEP_RECEIVED_DAYS": _positive_number("HUB_KEEP_RECEIVED_DAYS", 7.0),
        "HUB_KEEP_DELIVERIES_DAYS": _positive_number("HUB_KEEP_DELIVERIES_DAYS", 30.0),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "BABEL_DEFAULT_LOCALE": "lo",
        "BABEL_SUPPORTED_LOCALES": ["lo", "en"],
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }
    config.update(overrides)
    for cookie_flag in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        config.setdefault(cookie_flag, config["HUB_SCHEME"] == "https")
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = _secret_key(Path(config["HUB_INSTANCE_DIR"]))
    return config
