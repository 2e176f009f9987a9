"""gunicorn.conf.py shares connections out between web processes (HUB_WEB_SHARE_CONNECTIONS, on
unless 0): with real gunicorn and the bare app of the benchmarks, 20 keep-alive connections opened
at once end up about evenly split; and the rule itself, on a stand-in worker."""

import importlib.util
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from gunicorn_support import GUNICORN, ROOT, free_port
from polling import wait_for

from hub.console import GUNICORN_SETTINGS
from hub.gunicorn_worker import children


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is `port` (from /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _connections_of(pid: int, inodes: set[str]) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def _open_at_once(port: int, count: int) -> list[socket.socket]:
    """`count` connections opened together, then one keep-alive request on each, its answer read."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    for sock in socks:
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    return socks


@pytest.fixture
def gunicorn():
    """Two web processes on a free port, serving the bare benchmark app."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HUB_WEB_SHARE_CONNECTIONS"}
    proc = subprocess.Popen([GUNICORN, "--workers", "2", "--bind", f"127.0.0.1:{port}", "bench.trivial:app"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(children(proc.pid)) == 2, "2 gunicorn workers")

    def answers() -> bool:
        try:
            for sock in _open_at_once(port, 1):
                sock.close()
            return True
        except OSError:
            return False
    wait_for(answers, "gunicorn answering")
    yield proc, port
    proc.terminate()
    proc.wait(30)


def test_connections_opened_at_once_are_split_between_the_web_processes(gunicorn):
    proc, port = gunicorn
    workers = children(proc.pid)
    for _ in range(3):  # without the sharing, one process often takes 15 or more of the 20
        socks = _open_at_once(port, 20)
        inodes = _established_inodes(port)
        held = [_connections_of(pid, inodes) for pid in workers]
        assert sum(held) == 20, (held, len(inodes))
        assert max(held) - min(held) <= 4, held
        for sock in socks:
            sock.close()
        wait_for(lambda: not _established_inodes(port), "the connections closed")


def _config():
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", GUNICORN_SETTINGS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StandInQueue:
    """gthread's queue of calls for its loop; a call deferred to it wakes the loop."""

    def __init__(self):
        self.wakes = threading.Event()

    def defer(self, callback, *args):
        self.wakes.set()


class StandInWorker:
    """What ConnectionShare uses of a gthread worker, recording what it was asked to do."""

    def __init__(self, slot: int, connections: int):
        self.hub_slot, self.nr_conns, self.alive = slot, connections, True
        self.accepted, self.accepting, self.beats = 0, None, 0
        self.method_queue = StandInQueue()

    def accept(self, listener):
        self.accepted += 1
        self.nr_conns += 1

    def set_accept_enabled(self, enabled: bool):
        self.accepting = enabled

    def notify(self):
        self.beats += 1


def _serving(conf, *workers: StandInWorker) -> None:
    """Wrapped as in a forked worker, serving (gthread's loop switches accepting on first), and on
    the board (each loop's heartbeat); then each decides again whether to accept."""
    for worker in workers:
        conf.share_connections_of(worker)
        worker.set_accept_enabled(True)
    for worker in workers:
        worker.notify()
    for worker in workers:
        worker.set_accept_enabled(True)


def test_a_process_holding_more_than_its_share_leaves_new_connections_to_a_sibling():
    conf = _config()
    busy, idle = StandInWorker(0, 5), StandInWorker(1, 3)
    _serving(conf, busy, idle)
    assert (busy.beats, idle.beats) == (1, 1)  # gunicorn's own heartbeat still goes out
    assert busy.accepting is False and idle.accepting is True
    assert busy.method_queue.wakes.wait(5)  # its loop is woken to look again soon
    assert not idle.method_queue.wakes.is_set()
    busy.accept("listener")
    assert busy.accepted == 0  # 5 against 3: the sibling takes it
    idle.accept("listener")
    idle.notify()
    busy.set_accept_enabled(True)
    assert (idle.accepted, busy.accepting) == (1, True)  # 5 against 4: within the slack of one


def test_a_sibling_that_stopped_or_went_quiet_is_not_waited_for(monkeypatch):
    conf = _config()
    busy, other = StandInWorker(0, 9), StandInWorker(1, 0)
    _serving(conf, busy, other)
    assert busy.accepting is False
    other.alive = False  # shutting down: its entry is cleared at its next heartbeat
    other.notify()
    busy.set_accept_enabled(True)
    assert busy.accepting is True
    other.alive = True
    other.notify()
    now = time.monotonic()
    monkeypatch.setattr(conf.time, "monotonic", lambda: now + conf.STALE_SECONDS + 1)  # no heartbeat since
    busy.accept("listener")
    assert busy.accepted == 1


def test_a_slot_that_never_serves_http_is_not_counted():
    conf = _config()
    web, delivery = StandInWorker(0, 4), StandInWorker(1, 0)
    for worker in (web, delivery):
        conf.share_connections_of(worker)
    delivery.notify()  # the delivery slot beats but never runs gthread's loop
    web.set_accept_enabled(True)
    assert web.accepting is True


def test_a_worker_without_gthreads_internals_is_left_to_gunicorn():
    conf = _config()
    worker = StandInWorker(0, 4)
    del worker.method_queue  # e.g. a later gunicorn whose threaded worker changed
    accept, switch = worker.accept, worker.set_accept_enabled
    conf.share_connections_of(worker)
    assert (worker.accept, worker.set_accept_enabled) == (accept, switch)
