"""`make run` (scripts/run.sh) as a newcomer meets it: a hub on SQLite with a demo organisation,
served at HUB_BIND with its delivery worker, that Ctrl-C stops; and a clear word when the port is
taken."""

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import requests
from gunicorn_support import free_port
from polling import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _make_run(tmp_path, port: int) -> subprocess.Popen:
    """scripts/run.sh, as `make run` starts it, in a process group of its own; output in run.log."""
    env = dict(os.environ, HUB_INSTANCE_DIR=str(tmp_path), HUB_BIND=f"127.0.0.1:{port}",
               HUB_DOMAIN=f"localhost:{port}")
    for name in ("DATABASE_URL", "HUB_SECRET_KEY", "HUB_WORKER_IN_WEB", "HUB_SCHEME"):
        env.pop(name, None)  # make run's own defaults: SQLite in the instance folder, a generated key
    with open(tmp_path / "run.log", "w") as log:
        return subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _get(port: int, path: str, **headers) -> requests.Response | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=5,
                            headers={"Host": f"localhost:{port}", **headers})
    except requests.ConnectionError:
        return None


def test_make_run_serves_a_demo_hub_and_ctrl_c_stops_all_of_it(tmp_path):
    port = free_port()
    hub = _make_run(tmp_path, port)
    try:
        wait_for(lambda: _get(port, "/") is not None or hub.poll() is not None, "the hub answering",
                 timeout=90, logs=[tmp_path / "run.log"])
        assert hub.poll() is None, (tmp_path / "run.log").read_text()
        assert _get(port, "/").status_code == 200
        actor = _get(port, "/actors/demo", Accept="application/activity+json")
        assert actor.status_code == 200 and actor.json()["id"] == f"http://localhost:{port}/actors/demo"
        assert _get(port, "/@demo", **{"Accept-Language": "lo"}).status_code == 200
        os.killpg(hub.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
        hub.wait(timeout=60)
    finally:
        if hub.poll() is None:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
    output = (tmp_path / "run.log").read_text()
    assert hub.returncode == 130, output
    assert re.search(rf"Sign in at http://localhost:{port}/login as admin@example.org with password: \S+",
                     output)
    assert "Traceback" not in output and _get(port, "/") is None
    assert (tmp_path / "hub.db").exists()


def test_make_run_says_so_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = _make_run(tmp_path, port)
        hub.wait(timeout=60)
    assert hub.returncode == 1
    assert (tmp_path / "run.log").read_text().strip() == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use. If another program uses "
        "that port, stop it or choose another one, e.g. HUB_BIND=127.0.0.1:5001 HUB_DOMAIN=localhost:5001 "
        "make run")
    assert not (tmp_path / "hub.db").exists()  # stopped before migrating anything
