"""The Docker image's commands, run as the image runs them but without Docker: the hub only from
the wheel its build stage builds, the runtime stage's environment and working directory (its /data
volume in a temporary folder), compose's migration, the image's default command and compose's
health check, and the worker's command."""

import signal
import subprocess
import sys
import zipfile
from pathlib import Path

from gunicorn_support import free_port, http_status
from image_support import (
    build_wheel,
    compose_command,
    compose_healthcheck_path,
    image_command,
    image_environment,
    image_workdir,
)
from polling import tail, wait_for

from hub.gunicorn_worker import children

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


def _with_bind(command: list[str], address: str) -> list[str]:
    """The command with the address after --bind replaced (the image's port may be taken here)."""
    at = command.index("--bind") + 1
    return [*command[:at], address, *command[at + 1:]]


def test_the_images_commands_run_the_hub_from_its_wheel_alone(tmp_path):
    site, data = tmp_path / "site", tmp_path / image_workdir().lstrip("/")
    with zipfile.ZipFile(build_wheel(tmp_path / "dist")) as archive:
        archive.extractall(site)
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
        web = subprocess.Popen(_hub(_with_bind(image_command(), f"127.0.0.1:{port}")), cwd=data, env=env,
                               stdout=output, stderr=subprocess.STDOUT)
    try:
        health = compose_healthcheck_path()
        wait_for(lambda: http_status(port, health) == 200 or web.poll() is not None, "the health check",
                 logs=(log,))
        assert web.poll() is None, tail(log)
        wait_for(lambda: len(children(web.pid)) == int(env["WEB_CONCURRENCY"]), "the image's web processes",
                 timeout=30, logs=(log,))
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
