"""ActivityStreams vocabulary: contexts, media types, the Public collection and small helpers for
ids, addressing and host comparison."""

from urllib.parse import urlsplit

from federation.memo import keep_short_calls

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})
ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_JSON = "application/jrd+json"
ACCEPT_ACTIVITY = f"{ACTIVITY_JSON}, {LD_JSON}"
ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})

MASTODON_TERMS = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "toot": "http://joinmastodon.org/ns#",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "suspended": "toot:suspended",
    "memorial": "toot:memorial",
    "blurhash": "toot:blurhash",
    "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    "Emoji": "toot:Emoji",
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
    "webfinger": {"@id": "https://purl.archive.org/socialweb/webfinger#webfinger",
                  "@type": "http://www.w3.org/2001/XMLSchema#string"},
}
MASTODON_CONTEXT = [AS_CONTEXT, SECURITY_CONTEXT, MASTODON_TERMS]

DEFAULT_PORTS = {"http": 80, "https": 443}


def as_list(value) -> list:
    """None → [], a list or tuple → a list, anything else → [value]."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def get_id(obj) -> str | None:
    """The id of a reference: the string itself, a dict's string `id`, else None."""
    if isinstance(obj, str):
        return obj or None
    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
        return obj["id"] or None
    return None


def is_public(addresses) -> bool:
    """True when the Public collection (any of its spellings) is among the addresses."""
    return any(get_id(item) in PUBLIC_ALIASES for item in as_list(addresses))


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """A Content-Type split into its lower-case media type and its parameters."""
    if not content_type:
        return "", {}
    main, *params = content_type.split(";")
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return main.strip().lower(), parsed


def is_activity_json(content_type: str | None) -> bool:
    """True for application/activity+json and application/ld+json (with or without the AS profile)."""
    main, _ = media_type(content_type)
    return main in (ACTIVITY_JSON, "application/ld+json")


def _split_netloc(netloc: str) -> tuple[str, str]:
    """(host, port) of a netloc without userinfo; IPv6 literals keep their brackets."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ValueError(f"bad IPv6 literal in {netloc!r}")
        rest = netloc[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad host {netloc!r}")
        return netloc[: end + 1].lower(), rest[1:]
    host, _, port = netloc.partition(":")
    return host, port


def normalise_host(host_or_url: str) -> str:
    """host[:port] in canonical form: lower-case, IDNA, no trailing dot, no userinfo, no default port."""
    if not isinstance(host_or_url, str):
        raise ValueError("host must be a string")
    scheme, netloc = "", host_or_url.strip()
    if "//" in netloc:
        parts = urlsplit(netloc)
        scheme, netloc = parts.scheme.lower(), parts.netloc
    return _canonical_host(scheme, netloc)


# Every inbox request asks for the host of its activity's id and of its actor, before its
# signature is checked, and the IDNA codec is slow; the same servers recur, so the answer is kept
# per (scheme, netloc).
@keep_short_calls(max_chars=300, maxsize=4096)
def _canonical_host(scheme: str, netloc: str) -> str:
    """The canonical host[:port] of a URL's netloc; ValueError when it is malformed."""
    host, port = _split_netloc(netloc.rpartition("@")[2])
    if not host.startswith("["):
        host = host.rstrip(".").lower()
        if not host or any(c in host for c in "/\\?#% "):
            raise ValueError(f"bad host in {netloc!r}")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"bad host in {netloc!r}") from exc
    if port:
        if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad port in {netloc!r}")
        if DEFAULT_PORTS.get(scheme) == int(port):
            port = ""
    return f"{host}:{int(port)}" if port else host


def host_of(url: str) -> str | None:
    """The normalised host[:port] of a URL, or None when it has none or is malformed."""
    try:
        parts = urlsplit(url)
        if not parts.netloc:
            return None
        return _canonical_host(parts.scheme.lower(), parts.netloc)
    except (ValueError, TypeError, AttributeError):
        return None


def same_origin(url_a: str, url_b: str) -> bool:
    """True when both URLs have the same scheme and the same normalised host and port."""
    host_a, host_b = host_of(url_a), host_of(url_b)
    if host_a is None or host_b is None:
        return False
    return urlsplit(url_a).scheme.lower() == urlsplit(url_b).scheme.lower() and host_a == host_b


def same_host(url_a: str, url_b: str) -> bool:
    """True when both URLs name the same normalised host and port, whatever their schemes."""
    host_a = host_of(url_a)
    return host_a is not None and host_a == host_of(url_b)
