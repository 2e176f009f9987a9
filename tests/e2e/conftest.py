"""End-to-end fixtures: real, independently written peers (two bovine servers and fediverse-pasture's
one_actor, from scripts/peers, a copy of ../shared/peers) and the hub itself, run as an operator
runs it: a fresh database migrated with `hub db upgrade`, `hub org create`, gunicorn serving
hub.wsgi:app as hub.test on 127.0.0.16:80, and `hub worker` — all as subprocesses.

A peer that cannot start fails the tests; nothing here skips. Every wait is a poll with a deadline.
"""

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from databases import fresh_database
from e2e_support import (
    BIN,
    EDITOR,
    HOSTS,
    KIT,
    ORG,
    ORG_NAME,
    PEERS,
    RUN,
    Hub,
    Peers,
    listening,
    run,
)
from polling import tail, wait_for

# one lock for every checkout on this machine: the peers' addresses and names are machine-wide
LOCK = Path(tempfile.gettempdir()) / "cso-hub-e2e-peers.lock"


def _peer_lock():
    """Hold an exclusive lock on the peers (ports, /etc/hosts names) while a session uses them."""
    handle = open(LOCK, "w")  # held for the whole session
    deadline = time.monotonic() + 600
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail("another test session has held the peers for 10 minutes", pytrace=False)
            time.sleep(1)


def _check_installed() -> None:
    missing = [p for p in (PEERS / "bovine" / "bin" / "python", PEERS / "pasture" / "bin" / "python",
                           PEERS / "contexts" / "contexts.json") if not p.exists()]
    if missing:
        pytest.fail(f"the peers are not installed ({', '.join(map(str, missing))} missing): run `make peers`",
                    pytrace=False)
    for name, address in HOSTS.items():
        try:
            found = socket.gethostbyname(name)
        except OSError:
            found = None
        if found != address:
            pytest.fail(f"{name} resolves to {found}, not {address}: run `make peers` as root "
                        f"(it adds the peers' names to /etc/hosts)", pytrace=False)


def _peers_sh(command: str, timeout: float) -> subprocess.CompletedProcess:
    return run(["bash", KIT / "peers.sh", command], env={**os.environ, "PEERS": str(PEERS)}, timeout=timeout)


def _start_peers() -> Peers:
    _peers_sh("stop", 30)
    for name in ("cow-a.test", "cow-b.test", "pasture-one-actor"):
        wait_for(lambda n=name: not listening(n), f"{name}:80 to be free (a peer left from another run?)",
                 timeout=15)
    for state in ("cow-a", "cow-b", "pasture"):
        shutil.rmtree(RUN / state, ignore_errors=True)
    started = _peers_sh("start", 180)
    if started.returncode != 0:
        logs = "\n".join(tail(RUN / f"{n}.log") for n in ("cow-a", "cow-b", "one_actor"))
        pytest.fail(f"the peers did not start (peers.sh start exit {started.returncode}):\n"
                    f"{started.stdout}\n{started.stderr}\n{logs}", pytrace=False)
    running = Peers({name: (RUN / name / "secret.txt").read_text().strip() for name in ("cow-a", "cow-b")})
    for cow in (running.cow_a, running.cow_b):
        cow.actor_id = cow.ctl("whoami")
    return running


@pytest.fixture(scope="session")
def peers():
    """Fresh peers (new accounts, keys and databases) for this session, stopped after it."""
    _check_installed()
    lock = _peer_lock()
    try:
        yield _start_peers()
    finally:
        _peers_sh("stop", 30)
        lock.close()


@pytest.fixture(scope="session")
def hub_database(peers):
    """A fresh database for the hub: its own on HUB_TEST_DATABASE_URL's PostgreSQL, else SQLite."""
    admin_url = os.environ.get("HUB_TEST_DATABASE_URL", "")
    if not admin_url:
        path = RUN / "hub.db"
        path.unlink(missing_ok=True)
        yield f"sqlite:///{path}"
        return
    with fresh_database(admin_url, "hub_e2e") as url:
        yield url


@pytest.fixture(scope="session")
def hub(peers, hub_database):
    """The hub at http://hub.test with org and an editor, web and worker running; logs in $PEERS/run/hub."""
    shutil.rmtree(RUN / "hub", ignore_errors=True)
    (RUN / "hub").mkdir(parents=True)
    running = Hub(RUN / "hub", hub_database)
    if listening("hub.test"):
        pytest.fail("something already listens on hub.test:80 (127.0.0.16); stop it first", pytrace=False)
    running.cli("db", "upgrade", timeout=120)
    running.org_uri = running.cli("org", "create", ORG, "--name", ORG_NAME).splitlines()[-1]
    running.cli("user", "create", EDITOR, "--org", ORG, "--role", "editor", input="correct horse battery\n")
    web = running.spawn("web", BIN / "gunicorn", "--bind", f"{HOSTS['hub.test']}:80", "--workers", "2",
                        "--threads", "4", "--access-logfile", "-",
                        "--access-logformat", '%(m)s %(U)s%(q)s %(s)s %(b)s "%(a)s"', "hub.wsgi:app")
    try:
        wait_for(lambda: web.poll() is not None or listening("hub.test"), "gunicorn to listen on hub.test:80",
                 logs=running.logs)
        if web.poll() is not None:
            pytest.fail(f"gunicorn exited with {web.returncode}\n{tail(running.web_log)}", pytrace=False)
        running.spawn("worker", BIN / "hub", "worker")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def org_followers(hub, peers):
    """alicea@cow-a.test and aliceb@cow-b.test follow org@hub.test (WebFinger, Follow, the hub's Accept)."""
    for cow in (peers.cow_a, peers.cow_b):
        assert cow.ctl("follow", f"acct:{ORG}@hub.test") is True
    for cow in (peers.cow_a, peers.cow_b):
        wait_for(lambda c=cow: hub.org_uri in c.ctl("following"),
                 f"{cow.handle}'s following to list {hub.org_uri} (the hub's Accept)",
                 logs=[cow.log, *hub.logs])
    return peers.cow_a, peers.cow_b


@pytest.fixture(autouse=True)
def _peer_errors(request):
    """Fail a test during which a peer logged a traceback or a JSON-LD context it could not load."""
    if "peers" not in request.fixturenames:
        yield
        return
    running = request.getfixturevalue("peers")
    sizes = {log: log.stat().st_size if log.exists() else 0 for log in running.logs}
    yield
    problems = []
    for log, size in sizes.items():
        if not log.exists():
            continue
        with open(log, errors="replace") as handle:
            handle.seek(size)
            new = handle.read()
        if "Traceback" in new or "Failed to load" in new:
            problems.append(f"--- {log} during the test:\n{new[-4000:]}")
    if problems:
        pytest.fail("a peer logged an error:\n" + "\n".join(problems), pytrace=False)
