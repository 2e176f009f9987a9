"""The wheel and the Docker image that installs it, tested without Docker. The wheel, built from what
the image's build stage copies, holds every file the hub reads at run time. The image's commands run
as the image runs them: the hub only from that wheel, the runtime stage's environment and working
directory (its /data volume in a temporary folder), compose's migration, the image's default command
(a Lao page from the wheel's template and catalog, compose's health check) and the worker's command."""

import signal
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from gunicorn_support import free_port, http_status
from image_support import (
    ROOT,
    build_wheel,
    compose_command,
    compose_healthcheck_path,
    image_command,
    image_environment,
    image_workdir,
    with_bind,
)
from polling import tail, wait_for

from hub.gunicorn_worker import children

DATA_FOLDERS = ("hub/templates", "hub/migrations", "hub/translations", "hub/static")
DATA_FILES = ("hub/gunicorn.conf.py",)
# The image's `hub` is the wheel's console script; here the same entry point, run by this Python.
HUB_SCRIPT = "import sys; from hub.console import main; sys.argv[0] = 'hub'; main()"


def _hub(command: list[str]) -> list[str]:
    assert command[0] == "hub", command
    return [sys.executable, "-c", HUB_SCRIPT, *command[1:]]


def _environment(site: Path, data: Path) -> dict[str, str]:
    """The image's ENV with /data moved to a temporary folder, and what .env gives compose."""
    env = {key: value.replace("/data", str(data), 1) if value.startswith("/data") else value
           for key, value in image_environment().items()}
    env.update(PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", PYTHONPATH=str(site), HOME=str(data),
               DATABASE_URL=f"sqlite:///{data / 'hub.db'}", HUB_DOMAIN="image.test",
               HUB_SECRET_KEY="image-test-secret")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[set[str], Path]:
    """The wheel, built once for this module: (the names of its files, the folder it is unpacked in)."""
    folder = tmp_path_factory.mktemp("wheel")
    with zipfile.ZipFile(build_wheel(folder / "dist")) as archive:
        archive.extractall(folder / "site")
        return set(archive.namelist()), folder / "site"


def _data_files() -> set[str]:
    """Every file the hub reads at run time from its data folders, as a path inside the wheel."""
    files = [path for folder in DATA_FOLDERS for path in (ROOT / folder).rglob("*") if path.is_file()]
    return {path.relative_to(ROOT).as_posix() for path in files
            if "__pycache__" not in path.parts and path.suffix != ".pot"} | set(DATA_FILES)


def _lao_page(port: int, path: str) -> str:
    """The page at path, asked for in Lao."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept-Language": "lo"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode()


def test_the_wheel_holds_every_data_file(wheel):
    names, _ = wheel
    missing = _data_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_the_images_commands_run_the_hub_from_its_wheel_alone(wheel, tmp_path):
    site, data = wheel[1], tmp_path / image_workdir().lstrip("/")
    data.mkdir()
    env = _environment(site, data)
    for folder in ("HUB_INSTANCE_DIR", "HUB_MEDIA_DIR"):
        Path(env[folder]).mkdir(parents=True)
    found = subprocess.run([sys.executable, "-c", "import hub; print(hub.__file__)"], cwd=data, env=env,
                           capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).is_relative_to(site), found.stdout

    migrated = subprocess.run(_hub(compose_command("migrate")), cwd=data, env=env, capture_output=True,
                              text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    port, log = free_port(), tmp_path / "web.log"
    with open(log, "wb") as output:
        web = subprocess.Popen(_hub(with_bind(image_command(), f"127.0.0.1:{port}")), cwd=data, env=env,
                               stdout=output, stderr=subprocess.STDOUT)
    try:
        health = compose_healthcheck_path()
        wait_for(lambda: http_status(port, health) == 200 or web.poll() is not None, "the health check",
                 logs=(log,))
        assert web.poll() is None, tail(log)
        wait_for(lambda: len(children(web.pid)) == int(env["WEB_CONCURRENCY"]), "the image's web processes",
                 timeout=30, logs=(log,))
        assert "ເຂົ້າສູ່ລະບົບ" in _lao_page(port, "/login")  # the wheel's template and Lao catalog
        worker = subprocess.run([*_hub(compose_command("worker")), "--once"], cwd=data, env=env,
                                capture_output=True, text=True, timeout=120)
        assert worker.returncode == 0, worker.stderr[-3000:]
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(30)
    # The access log names the request but not who made it (privacy by default).
    requests = [line for line in log.read_text().splitlines() if health in line]
    assert requests and all(" 200 " in line for line in requests), tail(log)
    assert not [line for line in requests if "127.0.0.1" in line], requests
    assert not (data / ".gunicorn").exists()  # gunicorn's control socket stays off
