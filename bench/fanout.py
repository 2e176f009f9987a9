"""Benchmark 1, fan-out: one post to many followers on many fake servers, timed from publishing
until every expected inbox has it, against the naive sequential baseline and the signing floor,
both measured in the same run; with 200 ms of latency at every server; and 100k followers."""

import os
import socket
import threading
import time

import requests
from sqlalchemy import text

from bench import signing, tls
from bench.common import Figure, HubEnv, SinkProcess, median
from bench.httpload import cpu_seconds, pss_kb
from bench.network import Network, build, pending, publish
from bench.sinks import LATENCY, OK, Behaviour
from hub.extensions import db
from hub.models import Actor

WORKER_SETTINGS = {}
# One delivery worker per core, as the README advises for PostgreSQL (SQLite runs one).
WORKERS = int(os.environ.get("HUB_BENCH_WORKERS", os.cpu_count() or 1))


def free_port() -> int:
    """A port free on 127.0.0.1 (the sinks use it on other 127.x addresses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_workers(env: HubEnv, count: int = 0, **settings) -> list:
    """Start `hub worker` processes (one per core on PostgreSQL, one on SQLite) and wait until each
    holds its lease (PostgreSQL) or has had time to start."""
    count = count or (WORKERS if env.database.kind == "postgresql" else 1)
    if count > 1:  # as the README advises for several workers on one machine: the cores are taken
        settings.setdefault("HUB_DELIVERY_SIGNING_THREADS", 0)
    procs = [env.spawn(["worker"], **settings) for _ in range(count)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker died: {proc.stderr.read().decode()[-2000:]}")
        if env.database.kind == "postgresql":
            held = db.session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
            db.session.rollback()
            if held >= count:
                return procs
        elif time.monotonic() > deadline - 27:
            return procs
        time.sleep(0.05)
    raise RuntimeError("the workers did not start")


def fan_out_once(network: Network, sink: SinkProcess, n: int, timeout: float) -> dict:
    """Publish one post; return seconds until the last expected inbox had it, and more."""
    sink.ask("reset")
    started = time.time()
    activity_id, how = publish(network, n)
    published = time.time() - started
    stats = sink.wait_for(len(network.expected), timeout)
    if stats["distinct"] < len(network.expected):
        raise RuntimeError(f"only {stats['distinct']} of {len(network.expected)} inboxes reached "
                           f"in {timeout} s")
    reached = stats["last_at"] - started
    while pending(activity_id) and time.time() - started < timeout:
        time.sleep(0.02)
    db.session.rollback()
    return {"seconds": reached, "recorded": time.time() - started, "publish": published,
            "requests": stats["total"], "how": how}


def naive(network: Network, sample: int) -> float:
    """Seconds for the naive way, extrapolated from `sample` followers: per follower, sequentially,
    a new connection with requests, each signed (the key loaded once)."""
    org = db.session.get(Actor, network.org_id)
    signer = signing.signer_for(org)
    body = signing.body()
    inboxes = network.follower_inboxes[:sample]
    started = time.perf_counter()
    for inbox in inboxes:
        headers = signing.sign_post(signer, inbox, body)
        requests.post(inbox, data=body, headers=headers, timeout=10)
    return (time.perf_counter() - started) * len(network.follower_inboxes) / len(inboxes)


def signing_floor(network: Network) -> float:
    """Seconds one core needs only to sign one POST per distinct inbox."""
    org = db.session.get(Actor, network.org_id)
    signer = signing.signer_for(org)
    body = signing.body()
    urls = [f"http://{key}" for key in sorted(network.expected)]
    started = time.perf_counter()
    for url in urls:
        signing.sign_post(signer, url, body)
    return time.perf_counter() - started


def run(smoke: bool, runs: int) -> tuple[list[Figure], dict]:
    """Fan-out benchmarks; returns figures and the healthy fan-out time (for benchmark 5)."""
    followers, servers = (200, 20) if smoke else (10_000, 1_000)
    timeout = 30 if smoke else 120
    env = HubEnv()
    port = free_port()
    figures, context = [], {}
    sink = None
    try:
        network = build("fanout", followers, servers, port, first_octet=2)
        sink = SinkProcess({a: Behaviour() for a in network.addresses})
        workers = start_workers(env, **WORKER_SETTINGS)
        fan_out_once(network, sink, 0, timeout)  # warm-up: connections, caches, JIT of the database
        results = [fan_out_once(network, sink, n, timeout) for n in range(1, runs + 1)]
        hub_time = median([r["seconds"] for r in results])
        naive_time = median([naive(network, 50 if smoke else 1000) for _ in range(runs)])
        floor = median([signing_floor(network) for _ in range(runs)])
        inboxes = len(network.expected)
        note = (f"{followers} followers on {servers} servers, {inboxes} distinct inboxes; "
                f"db {env.database.kind}; {WORKERS if env.database.kind == 'postgresql' else 1} "
                f"delivery worker(s); published via {results[0]['how']}; "
                f"publish took {median([r['publish'] for r in results]):.3f} s; "
                f"all recorded done after {median([r['recorded'] for r in results]):.2f} s")
        figures.append(Figure("fanout", "time to reach every inbox", hub_time, "s",
                              "≥ 20× faster than naive", naive_time / hub_time >= 20, naive_time,
                              "naive sequential requests (measured on a sample, scaled)",
                              naive_time / hub_time, [r["seconds"] for r in results], note))
        figures.append(Figure("fanout", "time vs the signing floor", hub_time, "s",
                              "≤ 4× the signing floor", hub_time / floor <= 4, floor,
                              f"signing floor ({inboxes} signatures, one core)", hub_time / floor,
                              [r["seconds"] for r in results]))
        context.update(healthy=hub_time, network=network, env=env, sink=sink, port=port, workers=workers)
        sink.ask("behave", {f"{h}:{p}": Behaviour(kind=LATENCY, delay=0.2) for h, p in network.addresses})
        slow = [fan_out_once(network, sink, 100 + n, timeout) for n in range(runs)]
        slow_time = median([r["seconds"] for r in slow])
        figures.append(Figure("fanout", "time to reach every inbox, 200 ms latency at every server",
                              slow_time, "s", "≤ 1.2 s", slow_time <= 1.2, 0.2,
                              "one round trip of added latency",
                              slow_time / 0.2, [r["seconds"] for r in slow], note.split(";")[0]))
        sink.ask("behave", {f"{h}:{p}": Behaviour(kind=OK) for h, p in network.addresses})
    except BaseException:
        if sink:
            sink.close()
        env.close()
        raise
    return figures, context


def _cpu_of(procs: list) -> float:
    """CPU seconds the processes have used so far."""
    return sum(cpu_seconds(proc.pid) for proc in procs)


def run_https(smoke: bool, runs: int, healthy: float | None = None) -> list[Figure]:
    """The fan-out of benchmark 1 over HTTPS, every server's certificate checked (reported, not judged):
    each new connection costs a TLS handshake on both sides, and the fake servers' half runs on the
    same two cores."""
    followers, servers = (200, 20) if smoke else (10_000, 1_000)
    env = HubEnv()
    sink = None
    try:
        network = build("secure", followers, servers, free_port(), first_octet=5, scheme="https")
        authority, certificates = tls.certificates_for(network.addresses, env.workdir)
        sink = SinkProcess({a: Behaviour() for a in network.addresses}, tls=certificates)
        workers = start_workers(env, SSL_CERT_FILE=authority, **WORKER_SETTINGS)
        fan_out_once(network, sink, 0, 120)  # warm-up
        results, cpu = [], []
        for n in range(1, runs + 1):
            used = _cpu_of(workers)
            results.append(fan_out_once(network, sink, n, 120))
            cpu.append(_cpu_of(workers) - used)
        seconds, inboxes = median([r["seconds"] for r in results]), len(network.expected)
        connections = sink.stats(detail=True)["connections"]
        note = (f"{followers} followers on {servers} servers, {inboxes} distinct inboxes; the delivery "
                f"workers used {median(cpu) / inboxes * 1e3:.2f} ms of CPU per delivery; "
                f"{sum(connections.values())} TLS connections in the last run")
        title = "time to reach every inbox over HTTPS (each server's ECDSA certificate checked)"
        return [Figure("fanout", title, seconds, "s",
                       "none (real servers are reached over HTTPS; the others measure plain HTTP)", None,
                       healthy, "the same fan-out over plain HTTP (benchmark 1)",
                       seconds / healthy if healthy else None, [r["seconds"] for r in results], note)]
    finally:
        if sink:
            sink.close()
        env.close()


class PeakPss:
    """Samples the summed PSS of some processes in a thread while the block runs."""

    def __init__(self, pids: list[int]):
        self.pids, self.kb, self.running = pids, 0, False
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self.running:
            self.kb = max(self.kb, sum(pss_kb(pid) for pid in self.pids))
            time.sleep(0.05)

    def __enter__(self) -> "PeakPss":
        self.running = True
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join(5)

    @property
    def mb(self) -> float:
        """The peak in MB."""
        return self.kb / 1024


def run_large(smoke: bool, runs: int) -> list[Figure]:
    """100,000 followers on 5,000 servers (2,000 on 100 in smoke mode)."""
    followers, servers = (2_000, 100) if smoke else (100_000, 5_000)
    env = HubEnv()
    sink = None
    try:
        network = build("large", followers, servers, free_port(), first_octet=4)
        sink = SinkProcess({a: Behaviour() for a in network.addresses})
        start_workers(env, **WORKER_SETTINGS)
        results = [fan_out_once(network, sink, n, 300) for n in range(runs)]
        seconds = median([r["seconds"] for r in results])
        floor = signing_floor(network)
        return [Figure("fanout", f"{followers:,} followers on {servers:,} servers", seconds, "s", "≤ 3 s",
                       seconds <= 3,
                       floor, f"signing floor ({len(network.expected)} signatures, one core)",
                       seconds / floor, [r["seconds"] for r in results],
                       f"{len(network.expected)} distinct inboxes")]
    finally:
        if sink:
            sink.close()
        env.close()
