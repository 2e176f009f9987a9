"""`HUB_WORKER_IN_WEB=1` (make run): real gunicorn, one slot of which delivers instead of serving;
posts reach a follower's server, a killed delivery slot is forked again by gunicorn and delivers,
and a graceful stop ends every process."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from delivery_support import free_port
from polling import wait_for

from hub import gunicorn_worker
from hub.extensions import db
from hub.gunicorn_worker import children
from hub.services import inbox, posts

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _gunicorn(app, log_path: Path, web_workers: int):
    """gunicorn with `web_workers` web slots and the delivery slot, on the test's database."""
    db.session.commit()
    config = app.config
    env = dict(os.environ, DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"], HUB_DOMAIN=config["HUB_DOMAIN"],
               HUB_SCHEME="http", HUB_SECRET_KEY="test-secret", HUB_INSTANCE_DIR=config["HUB_INSTANCE_DIR"],
               HUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", HUB_WORKER_IN_WEB="1",
               HUB_WEB_WORKERS=str(web_workers))
    env.pop("HUB_WEB_CPU_AFFINITY", None)  # the default: on
    with open(log_path, "wb") as log:
        return subprocess.Popen([GUNICORN, "--bind", f"127.0.0.1:{free_port()}", "hub.wsgi:app"], env=env,
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()  # a graceful stop ends the delivery slot too
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def web(app, tmp_path):
    """gunicorn with one web slot and the delivery slot: (process, lock file)."""
    proc = _gunicorn(app, tmp_path / "gunicorn.log", web_workers=1)
    try:
        yield proc, Path(app.config["HUB_INSTANCE_DIR"]) / gunicorn_worker.LOCK_NAME
    finally:
        _stop(proc)


def _delivering(lock: Path) -> int:
    pid = gunicorn_worker.delivering_pid(lock.parent)
    return pid if pid and _alive(pid) else 0


def test_the_delivery_slot_delivers_is_restarted_and_stops(web, org, owner, peer, client):
    proc, lock = web
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    inbox.process_due(10)
    db.session.commit()
    first = wait_for(lambda: _delivering(lock), "a slot to take the delivery lock")

    posts.create_post(org, owner, "ນ້ຳຖ້ວມຢູ່ບ້ານນາ ກະລຸນາຍ້າຍໄປບ່ອນສູງ", language="lo")
    wait_for(lambda: peer.received("Create"), "the post to reach the follower's server")

    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: (pid := _delivering(lock)) and pid != first and pid, "a new delivery slot")
    posts.create_post(org, owner, "ນ້ຳລົດລົງແລ້ວ", language="lo")  # (the first may come twice: at least once)
    wait_for(lambda: any("ນ້ຳລົດລົງແລ້ວ" in a["object"]["content"] for a in peer.received("Create")),
          "the second post, from the new slot")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not _alive(second)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("HUB_WORKER_IN_WEB", "yes", "HUB_WORKER_IN_WEB must be 1 or 0, not 'yes'"),
    ("HUB_WEB_THREADS", "four", "HUB_WEB_THREADS must be a positive whole number, not 'four'"),
    ("HUB_WEB_CPU_AFFINITY", "yes", "HUB_WEB_CPU_AFFINITY must be 1 or 0, not 'yes'"),
])
def test_a_bad_gunicorn_setting_stops_with_one_clear_line(name, value, message):
    done = subprocess.run([GUNICORN, "--check-config", "bench.trivial:app"], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, **{name: value}), timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip() == f"gunicorn.conf.py: {message}"


def test_a_slot_takes_over_when_the_lock_frees_after_start(web, org, owner, peer, client):
    """As after a reload: the old tree's delivery slot still held the lock while the new slots
    started, so all of them serve; once it ends, one web slot hands over to a delivering one."""
    proc, lock = web
    lock.parent.mkdir(parents=True, exist_ok=True)
    held = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)  # the "old" slot: this test process
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    inbox.process_due(10)
    posts.create_post(org, owner, "ກອງປະຊຸມມື້ອື່ນ", language="lo")
    wait_for(lambda: len(children(proc.pid)) == 2, "gunicorn's two slots")
    time.sleep(1)
    assert peer.received("Create") == []  # nobody of the new tree delivers yet
    os.close(held)
    wait_for(lambda: peer.received("Create"), "the post, once a slot took the lock", timeout=40)
    wait_for(lambda: _delivering(lock) in children(proc.pid), "the lock held by a slot of this gunicorn")


def test_the_delivery_slot_stops_when_the_master_is_killed(web):
    proc, lock = web
    delivering = wait_for(lambda: _delivering(lock), "a slot to take the delivery lock")
    proc.kill()
    proc.wait(10)
    wait_for(lambda: not _alive(delivering), "the orphaned delivery slot to stop", timeout=20)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs or more")
def test_web_slots_get_a_cpu_each_and_the_delivery_slot_every_cpu(app, tmp_path):
    """The master gives each slot a CPU before it knows which will deliver; whichever does, the
    web slots end up on different CPUs and the delivery slot may use all of them."""
    proc = _gunicorn(app, tmp_path / "gunicorn.log", web_workers=2)
    try:
        lock = Path(app.config["HUB_INSTANCE_DIR"]) / gunicorn_worker.LOCK_NAME
        delivering = wait_for(lambda: _delivering(lock), "a slot to take the delivery lock")
        master_cpus = os.sched_getaffinity(proc.pid)
        wait_for(lambda: os.sched_getaffinity(delivering) == master_cpus, "the delivery slot on every CPU")

        def web_cpus():
            slots = [pid for pid in children(proc.pid) if pid != delivering]
            cpus = [os.sched_getaffinity(pid) for pid in slots]
            return len(slots) == 2 and all(len(one) == 1 for one in cpus) and cpus[0] != cpus[1] and cpus

        wait_for(web_cpus, "the two web slots on different CPUs", timeout=20)
        threads = Path(f"/proc/{delivering}/task").iterdir()
        assert all(os.sched_getaffinity(int(t.name)) == master_cpus for t in threads)
    finally:
        _stop(proc)
