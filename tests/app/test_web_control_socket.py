"""gunicorn.conf.py leaves gunicorn's control socket off unless HUB_WEB_CONTROL_SOCKET names its path:
real gunicorn with the bare app of the benchmarks, in a home folder of its own."""

import os
import stat
import subprocess

import pytest
from gunicorn_support import GUNICORN, ROOT, free_port, http_status
from polling import wait_for

from hub.gunicorn_worker import children


@pytest.fixture
def start_gunicorn(tmp_path):
    """Start gunicorn (one web process) with HOME in tmp_path and the given extra environment."""
    started = []

    def start(**extra) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "HUB_WEB_CONTROL_SOCKET")}
        env.update(HOME=str(tmp_path), **extra)
        args = [GUNICORN, "--workers", "1", "--bind", f"127.0.0.1:{port}", "bench.trivial:app"]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        wait_for(lambda: len(children(proc.pid)) == 1 and http_status(port), "gunicorn answering")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(30)


def test_no_control_socket_by_default(start_gunicorn, tmp_path):
    start_gunicorn()
    assert not (tmp_path / ".gunicorn").exists()


def test_the_control_socket_is_where_the_operator_says(start_gunicorn, tmp_path):
    path = tmp_path / "run" / "hub.ctl"
    path.parent.mkdir()
    start_gunicorn(HUB_WEB_CONTROL_SOCKET=str(path))
    wait_for(path.exists, "the control socket")  # gunicorn starts it in a thread of the master
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / ".gunicorn").exists()
