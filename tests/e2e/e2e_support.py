"""Helpers of the end-to-end tests: the peers (bovine accounts, the pasture one_actor) and the hub run
as subprocesses, driven through their own command lines and HTTP; polls with deadlines."""

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from polling import tail

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PEERS") or REPO / ".peers")
KIT = Path(os.environ.get("PEERS_KIT") or REPO / "scripts" / "peers")
RUN = PEERS / "run"
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
HOSTS = {"cow-a.test": "127.0.0.11", "cow-b.test": "127.0.0.12", "pasture-one-actor": "127.0.0.13",
         "hub.test": "127.0.0.16"}
HUB = "http://hub.test"
ORG = "org"
ORG_NAME = "ອົງການທົດລອງ Test CSO"
EDITOR = "editor@example.org"
AS_JSON = "application/activity+json"
TIMEOUT = 60.0


def run(cmd: list, *, env: dict | None = None, timeout: float = TIMEOUT, input: str | None = None,
        cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run a command to completion within `timeout` seconds, capturing its output."""
    try:
        return subprocess.run([str(c) for c in cmd], env=env, input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(map(str, cmd))} did not finish in {timeout:.0f} s; output: {exc.output!r}",
                    pytrace=False)


def result_of(proc: subprocess.CompletedProcess, what: str):
    """The JSON on the `RESULT …` line a peer script prints last; fail if it crashed or printed none."""
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"{what} failed (exit {proc.returncode})\nstdout:\n{proc.stdout[-3000:]}\n"
                    f"stderr:\n{proc.stderr[-3000:]}", pytrace=False)
    return json.loads(lines[-1][len("RESULT "):])


def object_id(value) -> str | None:
    """The id of an embedded object or the reference itself."""
    return value.get("id") if isinstance(value, dict) else value


def listening(host: str, port: int = 80) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Bovine:
    """One bovine_herd account (alicea@cow-a.test, aliceb@cow-b.test) driven through its client API."""

    def __init__(self, name: str, secret: str):
        self.name = name
        self.domain = f"http://{name}"
        self.handle = f"alice{name[4]}@{name}"
        self.secret = secret
        self.log = RUN / f"{name.split('.')[0]}.log"
        self.env = {**os.environ, "PYTHONPATH": str(KIT)}
        self.actor_id = None

    def _run(self, script: Path, *args: str, timeout: float = TIMEOUT):
        proc = run([PEERS / "bovine" / "bin" / "python", script, self.domain, self.secret, *args],
                   env=self.env, timeout=timeout)
        return result_of(proc, f"{script.name} {' '.join(args)} on {self.name}\n{tail(self.log, 20)}")

    def ctl(self, *args: str):
        """bovine_ctl.py CMD ARGS (whoami, follow, accept, post, has, following, followers …)."""
        return self._run(KIT / "bovine_ctl.py", *args)

    def client(self, *args: str):
        """tests/e2e/bovine_client.py CMD ARGS (inbox, get, reply, like, announce)."""
        return self._run(HERE / "bovine_client.py", *args)

    def inbox(self, count: int = 40) -> list[dict]:
        """The newest inbox items as bovine stored them."""
        return self.client("inbox", str(count))

    def find(self, kind: str, obj: str, actor: str | None = None) -> dict | None:
        """The newest inbox activity of this type whose object (id) is obj, by actor if given."""
        for item in self.inbox():
            if item.get("type") == kind and object_id(item.get("object")) == obj \
                    and (actor is None or object_id(item.get("actor")) == actor):
                return item
        return None


class Peers:
    """The running peers: two bovine accounts and the pasture one_actor."""

    def __init__(self, secrets: dict):
        self.cow_a = Bovine("cow-a.test", secrets["cow-a"])
        self.cow_b = Bovine("cow-b.test", secrets["cow-b"])
        self.pasture_log = RUN / "one_actor.log"
        self.logs = [self.cow_a.log, self.cow_b.log, self.pasture_log]

    def pasture_follow(self, command: str, account: str) -> str:
        """pasture_follow.py follow|unfollow ACCOUNT: the one_actor sends Follow or Undo; its output."""
        proc = run([PEERS / "pasture" / "bin" / "python", KIT / "pasture_follow.py", command, account],
                   env={**os.environ, "PYTHONPATH": str(KIT)}, cwd=RUN / "pasture")  # its keys: data.toml
        if proc.returncode != 0:
            pytest.fail(f"pasture_follow.py {command} {account} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
                        f"\n{tail(self.pasture_log)}", pytrace=False)
        return proc.stdout.strip()

    def pasture_received(self) -> list[dict]:
        """Every activity the one_actor received so far (it logs each as a Python dict)."""
        received = []
        for line in self.pasture_log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    received.append(ast.literal_eval(line))
                except (ValueError, SyntaxError):
                    continue
        return received


class Hub:
    """The hub under test, run as subprocesses; its command line and its web answers."""

    def __init__(self, workdir: Path, database_url: str):
        self.workdir = workdir
        self.database_url = database_url
        self.env = {**os.environ, "HUB_DOMAIN": "hub.test", "HUB_SCHEME": "http",
                    "HUB_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "DATABASE_URL": database_url,
                    "HUB_INSTANCE_DIR": str(workdir / "instance"), "HUB_MEDIA_DIR": str(workdir / "media"),
                    "HUB_SECRET_KEY": uuid.uuid4().hex, "PYTHONPATH": str(REPO)}
        self.web_log = workdir / "web.log"
        self.worker_log = workdir / "worker.log"
        self.logs = [self.web_log, self.worker_log]
        self.processes: list[subprocess.Popen] = []
        self.org_uri = ""

    def cli(self, *args: str, input: str | None = None, timeout: float = TIMEOUT) -> str:
        """Run `hub ARGS…` against this hub; its standard output, or a failure with its error."""
        proc = run([BIN / "hub", *args], env=self.env, input=input, timeout=timeout)
        if proc.returncode != 0:
            pytest.fail(f"hub {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n"
                        f"{proc.stderr}", pytrace=False)
        return proc.stdout.strip()

    def spawn(self, name: str, *cmd) -> subprocess.Popen:
        """Start a long-running process with its output in WORKDIR/NAME.log."""
        with open(self.workdir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([str(c) for c in cmd], env=self.env, cwd=REPO, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        """SIGTERM every process, then SIGKILL what is still there after 15 s."""
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def get(self, path: str, accept: str = "text/html", language: str = "lo") -> requests.Response:
        """GET a path or URL of the hub, as a browser preferring `language` would."""
        url = path if path.startswith("http") else HUB + path
        return requests.get(url, headers={"Accept": accept, "Accept-Language": language}, timeout=15,
                            allow_redirects=False)

    def scalar(self, query: str, **params):
        """One value from the hub's database (plain SQL, read-only)."""
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(query), params).scalar()
        finally:
            engine.dispose()
