"""What every benchmark shares: a fresh migrated database, the hub's environment for child
processes, a sink process on many loopback addresses, timing helpers and the result record."""

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from bench.sinks import Behaviour, Sink
from hub import MIGRATIONS, create_app
from hub.extensions import db

HUB = str(Path(sys.executable).parent / "hub")
PG_ADMIN_URL = os.environ.get("HUB_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DOMAIN = "hub.bench"


@dataclass
class Figure:
    """One measured figure, its baseline, their ratio and the target it is judged against."""

    bench: str
    name: str
    value: float
    unit: str
    target: str
    passed: bool | None
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    runs: list = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def median(values) -> float:
    """The median of measured values."""
    return statistics.median(values)


def median_item(items, key):
    """The item of median key (the upper middle of an even number): a run reported whole."""
    return sorted(items, key=key)[len(items) // 2]


class BenchDatabase:
    """A database of our own for one benchmark: PostgreSQL when reachable, else SQLite (or SQLite
    when HUB_BENCH_DATABASE_URL is `sqlite`)."""

    def __init__(self, workdir: Path, admin_url: str = PG_ADMIN_URL):
        self.workdir = workdir
        self.name = f"hub_bench_{uuid.uuid4().hex[:8]}"
        self.admin = None
        self.url = f"sqlite:///{workdir / 'bench.db'}"
        if admin_url != "sqlite":
            self._create_postgresql_database(admin_url)
        self.kind = "postgresql" if self.admin else "sqlite"

    def _create_postgresql_database(self, admin_url: str) -> None:
        try:
            self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            self.url = sa.engine.make_url(admin_url).set(database=self.name).render_as_string(
                hide_password=False)
        except sa.exc.OperationalError:
            self.admin = None

    def drop(self) -> None:
        """Remove the database."""
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()


class HubEnv:
    """A migrated hub on a fresh database, with an app for the controller and env for children;
    `admin_url="sqlite"` asks for SQLite whatever HUB_BENCH_DATABASE_URL says."""

    def __init__(self, admin_url: str = PG_ADMIN_URL, **settings):
        self.tmp = tempfile.TemporaryDirectory(prefix="hub-bench-")
        self.workdir = Path(self.tmp.name)
        self.database = BenchDatabase(self.workdir, admin_url)
        self.env = dict(os.environ, DATABASE_URL=self.database.url, HUB_DOMAIN=DOMAIN, HUB_SCHEME="http",
                        HUB_SECRET_KEY="bench", HUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8",
                        HUB_INSTANCE_DIR=str(self.workdir / "instance"))
        self.env.update({k: str(v) for k, v in settings.items()})
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.database.url, "HUB_DOMAIN": DOMAIN,
                               "HUB_SCHEME": "http", "SECRET_KEY": "bench",
                               "HUB_INSTANCE_DIR": str(self.workdir / "instance"),
                               "HUB_ALLOW_PRIVATE_NETWORKS": ["127.0.0.0/8"], **settings})
        self.ctx = self.app.app_context()
        self.ctx.push()
        upgrade(directory=str(MIGRATIONS))
        self.children: list[subprocess.Popen] = []

    def spawn(self, args: list[str], **extra) -> subprocess.Popen:
        """Start a hub child process (e.g. ["worker"]) on this database."""
        env = dict(self.env, **{k: str(v) for k, v in extra.items()})
        proc = subprocess.Popen([HUB, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.children.append(proc)
        return proc

    def run(self, args: list[str], timeout: float = 600, **extra) -> str:
        """Run a hub command to completion and return its output."""
        env = dict(self.env, **{k: str(v) for k, v in extra.items()})
        done = subprocess.run([HUB, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"hub {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def close(self) -> None:
        """Stop children, drop the database, remove the files."""
        for proc in self.children:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        db.session.remove()
        db.engine.dispose()
        self.ctx.pop()
        self.database.drop()
        self.tmp.cleanup()


# --- a sink in its own process -----------------------------------------------------------------

def _sink_main(behaviours, conn, tls=None) -> None:
    sink = Sink(behaviours, keep_bodies=False, keep_events=True, tls=tls)

    async def serve():
        await sink.start()
        conn.send("ready")
        loop = asyncio.get_running_loop()
        stop = loop.create_future()

        def on_command():
            command, arg = conn.recv()
            if command == "stop":
                stop.set_result(None)
            elif command == "reset":
                sink.reset()
                conn.send("ok")
            elif command == "behave":
                sink.behaviours.update(arg)
                conn.send("ok")
            elif command == "stats":
                conn.send(sink.stats(arg))

        loop.add_reader(conn.fileno(), on_command)
        await stop

    asyncio.run(serve())


class SinkProcess:
    """A Sink serving many addresses in a child process; ask it for counts over a pipe."""

    def __init__(self, behaviours: dict[tuple[str, int], Behaviour],
                 tls: dict[str, tuple[str, str]] | None = None):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=_sink_main, args=(behaviours, child, tls), daemon=True)
        self.proc.start()
        if not self.conn.poll(60) or self.conn.recv() != "ready":
            raise RuntimeError("the sink process did not start")

    def ask(self, command: str, arg=None):
        """Send a command and return the answer."""
        self.conn.send((command, arg))
        return self.conn.recv()

    def stats(self, detail: bool = False) -> dict:
        """Counts of requests received; with detail, the per-address event log too."""
        return self.ask("stats", detail)

    def wait_for(self, distinct: int, timeout: float) -> dict:
        """Poll until `distinct` (address, path) pairs have a request, or the timeout; return stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["distinct"] >= distinct or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the child."""
        try:
            self.conn.send(("stop", None))
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
