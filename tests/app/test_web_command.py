"""`hub web` runs gunicorn with the hub's settings file from any directory: real gunicorn, started in
a folder that has no gunicorn.conf.py, with HOME there too."""

import os
import signal
import subprocess

from gunicorn_support import HUB, free_port, http_status
from polling import tail, wait_for

from hub.gunicorn_worker import children


def test_hub_web_runs_with_the_hubs_settings_from_any_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "WEB_CONCURRENCY"))}
    env.update(HOME=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}", HUB_DOMAIN="web.test",
               HUB_SCHEME="http", HUB_SECRET_KEY="test-secret", HUB_INSTANCE_DIR=str(tmp_path / "instance"))
    subprocess.run([HUB, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=120)
    port, log = free_port(), tmp_path / "gunicorn.log"
    with open(log, "wb") as output:
        proc = subprocess.Popen([HUB, "web", "--bind", f"127.0.0.1:{port}"], cwd=tmp_path, env=env,
                                stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: http_status(port, "/login") == 200 or proc.poll() is not None, "hub web answering",
                 logs=(log,))
        assert proc.poll() is None, tail(log)
        # The settings file, not gunicorn's defaults (one process, a control socket under HOME):
        wait_for(lambda: len(children(proc.pid)) == 2, "two web processes (WEB_CONCURRENCY's default)",
                 timeout=30, logs=(log,))
        assert not (tmp_path / ".gunicorn").exists()
    finally:
        proc.send_signal(signal.SIGTERM)  # the process is gunicorn's master itself (exec)
        proc.wait(30)


def test_hub_web_help_names_the_hub_command_then_gunicorns_options(tmp_path):
    done = subprocess.run([HUB, "web", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: hub web [GUNICORN OPTIONS]"), done.stdout[:300]
    assert "hub.wsgi:app" in done.stdout and "--bind" in done.stdout
