"""Building the Docker image for real and running its file system (`make image-check`).

The image is built by Docker when a daemon answers, else by Podman. Where the registry cannot be
reached (this project's development machines reach PyPI and Debian but no container registry), the
base image is replaced by a stand-in made with debootstrap from the same Debian release, holding what
the official Python image adds to it: Python 3.11 with pip and its headers, pip free to install into
the system, and the CA certificates this machine trusts (a proxy in front of PyPI may need them).
What differs from the official base: Debian's Python (3.11.2, in /usr rather than /usr/local).

The built image's file system is exported and run with chroot as the image's user, with its
environment and working directory, and the host's network (the test's PostgreSQL on 127.0.0.1):
container runtimes cannot start containers in every sandbox, and this is the same file system.
What a container would add and this does not check: its own process and network namespaces, cgroup
limits, and a named volume (here the image's /data itself, which is what a new volume starts with).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from image_support import ROOT, dockerfile_stages

STAND_IN_PACKAGES = ("python3.11", "python3.11-dev", "python3-pip", "python-is-python3", "ca-certificates")
STAND_IN_LABEL = "org.cso-hub.stand-in"
HOST_CA_FOLDER = Path("/usr/local/share/ca-certificates")


def engine() -> str | None:
    """'docker' when its daemon answers, else 'podman' when installed, else None."""
    for name in ("docker", "podman"):
        answered = shutil.which(name) and subprocess.run([name, "info"], capture_output=True, timeout=60)
        if answered and answered.returncode == 0:
            return name
    return None


def base_images() -> list[str]:
    """The images the Dockerfile's stages start FROM (not its own stages)."""
    starts = [stage[0][1].split() for stage in dockerfile_stages()]  # FROM image [AS name]
    names = {words[-1] for words in starts if len(words) == 3}
    return sorted({words[0] for words in starts if words[0] not in names})


def ensure_base(tool: str, image: str, work: Path) -> str:
    """Make the base image available: pulled, already here, or a stand-in built now. Says which."""
    config = inspect(tool, image)
    if config is not None:
        stand_in = (config.get("Labels") or {}).get(STAND_IN_LABEL)
        return f"{image}: stand-in ({stand_in})" if stand_in else f"{image}: already here"
    pulled = subprocess.run([tool, "pull", image], capture_output=True, text=True, timeout=600)
    if pulled.returncode == 0:
        return f"{image}: pulled"
    release = image.rsplit("-", 1)[-1]  # python:3.11-slim-bookworm: Debian bookworm
    build_stand_in(tool, image, release, work / "stand-in")
    said = pulled.stderr.strip()[-200:]
    return f"{image}: stand-in built from Debian {release} (the registry: {said})"


def build_stand_in(tool: str, image: str, release: str, rootfs: Path) -> None:
    """Debian `release` with what the official Python image adds, imported as `image`."""
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(STAND_IN_PACKAGES)}", release,
                    str(rootfs), "http://deb.debian.org/debian"],
                   check=True, capture_output=True, timeout=1800)
    (rootfs / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    for certificate in HOST_CA_FOLDER.glob("*.crt"):
        shutil.copy(certificate, rootfs / "usr/local/share/ca-certificates" / certificate.name)
    subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True)
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    packed = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([tool, "import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]',
                    "--change", f"LABEL {STAND_IN_LABEL}=debian-{release}", "-", image],
                   stdin=packed.stdout, check=True, capture_output=True, timeout=600)
    packed.wait()
    shutil.rmtree(rootfs)


def build(tool: str, tag: str) -> subprocess.CompletedProcess:
    """`docker build` / `podman build` of the project's Dockerfile (Podman without a container runtime:
    its RUN steps in a chroot)."""
    extra = ["--isolation", "chroot", "--pull=never"] if tool == "podman" else []
    return subprocess.run([tool, "build", *extra, "--network", "host", "-t", tag, str(ROOT)],
                          capture_output=True, text=True, timeout=1800)


def inspect(tool: str, image: str) -> dict | None:
    """The image's configuration (Env, WorkingDir, User, Cmd, Labels …), None when it is not here."""
    found = subprocess.run([tool, "image", "inspect", image], capture_output=True, text=True)
    return json.loads(found.stdout)[0]["Config"] if found.returncode == 0 else None


def export(tool: str, image: str, rootfs: Path) -> None:
    """The image's file system, unpacked into rootfs with its owners and modes."""
    created = subprocess.run([tool, "create", image], capture_output=True, text=True, check=True)
    container = created.stdout.strip()
    try:
        archive = rootfs.with_suffix(".tar")
        subprocess.run([tool, "export", "-o", str(archive), container], check=True, capture_output=True)
        rootfs.mkdir()
        subprocess.run(["tar", "-C", str(rootfs), "-xf", str(archive)], check=True, capture_output=True)
        archive.unlink()
    finally:
        subprocess.run([tool, "rm", container], capture_output=True)


class ImageRoot:
    """An exported image's file system, with /proc and /dev mounted, running commands as the image does;
    removed on leaving (once nothing is mounted in it)."""

    def __init__(self, rootfs: Path, config: dict):
        self.rootfs, self.config = rootfs, config
        self.mounted: list[Path] = []

    def __enter__(self) -> "ImageRoot":
        for name in ("proc", "dev"):
            target = self.rootfs / name
            subprocess.run(["mount", "--bind", f"/{name}", str(target)], check=True, capture_output=True)
            self.mounted.append(target)
        return self

    def __exit__(self, *exc) -> None:
        for target in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        if not any(os.path.ismount(target) for target in self.mounted):  # never delete through a mount
            shutil.rmtree(self.rootfs)

    def user_ids(self) -> tuple[int, int]:
        """(uid, gid) of the image's USER, from its own /etc/passwd."""
        user = self.config.get("User") or "root"
        for line in (self.rootfs / "etc/passwd").read_text().splitlines():
            name, _, uid, gid, *_ = line.split(":")
            if user in (name, uid):
                return int(uid), int(gid)
        raise LookupError(f"the image's user {user!r} is not in its /etc/passwd")

    def environment(self, settings: dict[str, str]) -> dict[str, str]:
        """The image's ENV, then these settings (what compose's environment adds)."""
        env = dict(item.split("=", 1) for item in self.config.get("Env") or [])
        return {**env, **settings}

    def argv(self, command: list[str], settings: dict[str, str]) -> list[str]:
        """The command line running `command` in the image as its user, in its working directory."""
        uid, gid = self.user_ids()
        variables = [f"{key}={value}" for key, value in self.environment(settings).items()]
        workdir = self.config.get("WorkingDir") or "/"
        return ["chroot", f"--userspec={uid}:{gid}", str(self.rootfs), "/usr/bin/env", "-i", *variables,
                "sh", "-c", 'cd "$0" && exec "$@"', workdir, *command]

    def path(self, inside: str) -> Path:
        """A path of the image's file system, as seen from here."""
        return self.rootfs / inside.lstrip("/")


def can_chroot() -> bool:
    """Running as root, as chroot and mount need."""
    return os.geteuid() == 0 and shutil.which("chroot") is not None
