"""`python -m bench.soak [--seconds N] [--postgresql]`: `make run`'s layout under a mixed load, to
show that SQLite's write-ahead log, the database and the processes' memory stay bounded.

One gunicorn with the delivery slot (HUB_WORKER_IN_WEB=1) and the public cache off, so every read
opens a read transaction; for N seconds at once: wrk reading the outbox and the profile page at 16
connections, signed Creates replayed at the shared inbox at 4 connections, and a post to 3,000
followers on 300 fake servers every 2 s. The log's size is sampled every second. A checkpoint
can only recycle the log when no reader still needs its start, so constant overlapping readers
could make it grow without end; this prints how large it gets. The PSS of the gunicorn processes
(master, web workers, delivery slot) is sampled every 10 s, so that memory growing under load
shows. `--postgresql` runs the same on a PostgreSQL database of its own (HUB_BENCH_DATABASE_URL
names the server), sampling the database's size as PostgreSQL counts it; there is no log file to
watch there. Not part of `make bench`, which runs on PostgreSQL by default."""

import argparse
import threading
import time

import sqlalchemy as sa
from sqlalchemy import func, select

from bench.common import DOMAIN, PG_ADMIN_URL, HubEnv, SinkProcess
from bench.fanout import free_port
from bench.httpload import Gunicorn, pss_kb, replay, wrk
from bench.network import build, publish
from bench.sinks import Behaviour
from bench.web import _posts, _remote_actors, _signed_requests
from hub.extensions import db
from hub.models import InboxItem

READS = (("/actors/reader/outbox?page=1", "application/activity+json"), ("/@reader", "text/html"))


class Samples:
    """Calls `measure` about every `every` seconds in a thread, until stopped, noting when."""

    def __init__(self, measure, every: float = 1):
        self.measure, self.every, self.stopped = measure, every, threading.Event()
        self.started, self.timed = time.monotonic(), []  # (seconds since the start, value)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stopped.wait(self.every):
            self.timed.append((time.monotonic() - self.started, self.measure()))

    def stop(self) -> list:
        """Stop sampling; the values seen."""
        self.stopped.set()
        self.thread.join()
        return [value for _, value in self.timed]

    def every_so_often(self, seconds: float) -> list:
        """The first value seen at or after each multiple of `seconds` (a slow measure, as
        pg_database_size under load, takes more than the `every` it is asked for)."""
        picked, mark = [], 0.0
        for at, value in self.timed:
            if at >= mark:
                picked.append(value)
                mark = (at // seconds + 1) * seconds
        return picked


def file_bytes(path):
    """A function giving the file's size in bytes (0 while it does not exist)."""
    return lambda: path.stat().st_size if path.exists() else 0


def postgresql_bytes(url: str):
    """A function giving the PostgreSQL database's size in bytes, on a connection of its own."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def measure() -> int:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
    return measure


def table_stats(url: str, tables: tuple[str, ...] = ("deliveries", "inbox_items")):
    """A function giving (size in bytes with indexes, live rows) of each table, on PostgreSQL."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def measure() -> dict:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT relname, pg_total_relation_size(relid), n_live_tup FROM pg_stat_user_tables "
                "WHERE relname = ANY(:tables)"), {"tables": list(tables)})
            return {name: (size, live) for name, size, live in rows}
    return measure


def database_bytes(env: HubEnv):
    """A function giving the size of the hub's database: its file on SQLite."""
    if env.database.kind == "postgresql":
        return postgresql_bytes(env.database.url)
    return file_bytes(env.workdir / "bench.db")


class TreeMemory:
    """The summed PSS of a gunicorn's processes, and every pid seen (a replaced worker adds one)."""

    def __init__(self, server: Gunicorn):
        self.server, self.pids = server, set()

    def __call__(self) -> int:
        pids = self.server.pids()
        self.pids.update(pids)
        return sum(pss_kb(pid) for pid in pids) * 1024


def largest_tables(kind: str, count: int = 6) -> list[tuple[str, int, str]]:
    """(name, bytes, what else is known) of the database's largest tables: on PostgreSQL with their
    indexes and TOAST, and their live and dead rows; on SQLite each table and index apart."""
    if kind == "postgresql":
        rows = db.session.execute(sa.text(
            "SELECT c.relname, pg_total_relation_size(c.oid), s.n_live_tup, s.n_dead_tup "
            "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid ORDER BY 2 DESC LIMIT :n"),
            {"n": count})
        return [(name, size, f"{live} rows, {dead} dead") for name, size, live, dead in rows]
    rows = db.session.execute(sa.text(
        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT :n"), {"n": count})
    return [(name, size, "") for name, size in rows]


def _vacuum(kind: str) -> str:
    """Whether PostgreSQL's autovacuum runs: without it the space of pruned rows is never reused."""
    if kind != "postgresql":
        return ""
    return f", autovacuum {db.session.scalar(sa.text('SHOW autovacuum'))}"


def _read_for(web: Gunicorn, seconds: float, results: list) -> None:
    ends = time.monotonic() + seconds
    while (left := ends - time.monotonic()) >= 1:
        for path, accept in READS:
            results.append(wrk(web.url + path, connections=16, seconds=min(10, left),
                               headers={"Host": DOMAIN, "Accept": accept}))


def soak(seconds: int, smoke: bool = False, postgresql: bool = False) -> dict:
    """Run the mixed load for `seconds`; the sizes seen and what the load achieved."""
    env = HubEnv(admin_url=PG_ADMIN_URL if postgresql else "sqlite")
    sink = web = None
    try:
        if postgresql and env.database.kind != "postgresql":
            raise SystemExit(f"--postgresql: no PostgreSQL server answers at {PG_ADMIN_URL}")
        _posts("reader", 20 if smoke else 300)
        signed = env.workdir / "inbox.tsv"
        _signed_requests(signed, _remote_actors(5 if smoke else 20), 500 if smoke else 20_000, 0,
                         f"http://{DOMAIN}/inbox")
        network = build("big", 300 if smoke else 3000, 30 if smoke else 300, free_port(), first_octet=4)
        sink = SinkProcess({address: Behaviour() for address in network.addresses})
        web = Gunicorn("hub.wsgi:app", {**env.env, "HUB_WORKER_IN_WEB": "1", "HUB_PUBLIC_CACHE_SECONDS": "0"},
                       workers=3)
        sqlite = env.database.kind == "sqlite"
        log_sizes = Samples(file_bytes(env.workdir / "bench.db-wal")) if sqlite else None
        size_of_database = database_bytes(env)
        database = Samples(size_of_database)
        table_step = 1 if smoke else 60  # a smoke run is seconds long: it samples them every second
        tables = None if sqlite else Samples(table_stats(env.database.url), every=table_step)
        tree = TreeMemory(web)
        memory_at_start, memory = tree(), Samples(tree, every=10)
        reads, inbox = [], {}
        load = [threading.Thread(target=_read_for, args=(web, seconds, reads)),
                threading.Thread(target=lambda: inbox.update(counters=replay(
                    web.url, "/inbox", signed, DOMAIN, connections=4, seconds=seconds)[1]))]
        for thread in load:
            thread.start()
        published, ends = 0, time.monotonic() + seconds
        while time.monotonic() < ends:
            publish(network, published)
            published += 1
            time.sleep(2)
        for thread in load:
            thread.join()
        memory_samples = [memory_at_start, *memory.stop(), tree()]
        database.stop()
        step = 60 if seconds > 600 else 10
        wal = log_sizes.stop() if sqlite else []
        return {"wal_bytes": wal, "wal_sizes": log_sizes.every_so_often(step) if sqlite else [], "step": step,
                "database_sizes": database.every_so_often(step),
                "tables": tables.stop() if tables else [], "table_step": table_step,
                "published": published,
                "memory_bytes": memory_samples, "processes_seen": len(tree.pids),
                "received_rows": db.session.scalar(select(func.count()).select_from(InboxItem)),
                "reads": sum(r.requests for r in reads),
                "read_errors": sum(r.errors + r.non_2xx for r in reads), "inbox": inbox.get("counters", {}),
                "database_bytes": size_of_database(), "database_kind": env.database.kind,
                "largest_tables": largest_tables(env.database.kind), "vacuum": _vacuum(env.database.kind)}
    finally:
        if web:
            web.stop()
        if sink:
            sink.close()
        env.close()


def main(argv=None) -> None:
    """Run the soak and print the log's size over time."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=int, default=300,
                        help="how long the load runs (default 300; under 30, on small data: a smoke run)")
    parser.add_argument("--postgresql", action="store_true",
                        help="run on PostgreSQL (HUB_BENCH_DATABASE_URL) instead of SQLite")
    args = parser.parse_args(argv)
    found = soak(args.seconds, smoke=args.seconds < 30, postgresql=args.postgresql)
    kind = found["database_kind"] + found["vacuum"]
    print(f"database ({kind}): {found['database_bytes'] / 1e6:.1f} MB at the end")
    print("largest at the end: " + "; ".join(f"{name} {size / 1e6:.1f} MB" + (f" ({more})" if more else "")
                                             for name, size, more in found["largest_tables"]))
    print(f"load: {found['reads']} reads ({found['read_errors']} errors), {found['published']} posts "
          f"fanned out, inbox {found['inbox']}")
    if found["database_kind"] == "sqlite":
        sizes = found["wal_bytes"] or [0]
        print(f"write-ahead log: largest {max(sizes) / 1e6:.1f} MB, last {sizes[-1] / 1e6:.1f} MB")
        print(f"log size every {found['step']} s, MB: "
              + " ".join(f"{size / 1e6:.1f}" for size in found["wal_sizes"]))
    print(f"database size every {found['step']} s, MB: "
          + " ".join(f"{size / 1e6:.1f}" for size in found["database_sizes"]))
    every = "minute" if found["table_step"] == 60 else f"{found['table_step']} s"
    for table in ("deliveries", "inbox_items"):
        seen = [sample[table] for sample in found["tables"] if table in sample]
        if seen:
            print(f"{table} every {every}, MB (live rows): "
                  + " ".join(f"{size / 1e6:.1f} ({live})" for size, live in seen))
    memory = found["memory_bytes"]
    print(f"memory (PSS of the gunicorn processes): {memory[0] / 1e6:.1f} MB at the start, "
          f"{max(memory) / 1e6:.1f} MB at most, {memory[-1] / 1e6:.1f} MB at the end; "
          f"{found['processes_seen']} processes seen (4 unless one was replaced)")
    print("memory every minute, MB: " + " ".join(f"{size / 1e6:.1f}" for size in memory[::6]))
    print(f"received activities stored at the end: {found['received_rows']} (pruned: HUB_KEEP_RECEIVED_DAYS)")


if __name__ == "__main__":
    main()
