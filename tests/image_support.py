"""The Docker image as the Dockerfile and docker-compose.yml describe it, for tests that cannot run
Docker: the wheel built from what the build stage copies, and the runtime stage's environment,
working directory and commands."""

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def dockerfile_stages() -> tuple[tuple[tuple[str, str], ...], ...]:
    """The Dockerfile's instructions, (KEYWORD, arguments), stage by stage (a stage starts at FROM)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return tuple(map(tuple, stages))


def build_wheel(into: Path) -> Path:
    """Build the wheel from a copy of exactly what the build stage copies (no build/ or egg-info of an
    earlier build can leak in)."""
    source = into / "source"
    source.mkdir(parents=True)
    for keyword, arguments in dockerfile_stages()[0]:
        if keyword != "COPY":
            continue
        *names, destination = arguments.split()
        for name in names:
            target = source / destination / name if destination.endswith("/") else source / destination
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(ROOT / name, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into), str(source)],
                   check=True, capture_output=True, timeout=300)
    return next(into.glob("cso_hub-*.whl"))


def _runtime(keyword: str) -> list[str]:
    return [arguments for found, arguments in dockerfile_stages()[-1] if found == keyword]


def image_environment() -> dict[str, str]:
    """The runtime stage's ENV settings."""
    pairs = [pair for arguments in _runtime("ENV") for pair in arguments.split()]
    return dict(pair.split("=", 1) for pair in pairs)


def image_workdir() -> str:
    """The runtime stage's working directory."""
    return _runtime("WORKDIR")[-1]


def image_command() -> list[str]:
    """The image's default command (CMD, exec form)."""
    return json.loads(_runtime("CMD")[-1])


def with_bind(command: list[str], address: str) -> list[str]:
    """The command with the address after --bind replaced (the image's port may be taken here)."""
    at = command.index("--bind") + 1
    return [*command[:at], address, *command[at + 1:]]


def compose_command(service: str) -> list[str]:
    """The `command:` of one service in docker-compose.yml (exec form, on one line)."""
    current = None
    for line in (ROOT / "docker-compose.yml").read_text().splitlines():
        found = re.fullmatch(r"  ([\w-]+):\s*", line)
        if found:
            current = found.group(1)
        elif current == service and line.strip().startswith("command:"):
            return json.loads(line.split(":", 1)[1])
    raise LookupError(f"no command for {service} in docker-compose.yml")


def compose_healthcheck_path() -> str:
    """The path the web service's healthcheck asks for on 127.0.0.1:8000."""
    text = (ROOT / "docker-compose.yml").read_text()
    return re.search(r"urlopen\('http://127\.0\.0\.1:8000(/[^']*)'", text).group(1)
