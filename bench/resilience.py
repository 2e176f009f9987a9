"""Benchmarks 5 and 6: the fan-out of benchmark 1 with broken servers (never answering, refusing,
503 with Retry-After, slow), and with the delivery workers killed (-9) halfway, then restarted."""

import random
import signal
import time

from sqlalchemy import func, select

from bench.common import Figure, HubEnv, SinkProcess, median
from bench.fanout import free_port, start_workers
from bench.network import build, publish
from bench.sinks import LATENCY, OK, SILENT, UNAVAILABLE, Behaviour
from hub.config import DELIVERY_SETTINGS
from hub.extensions import db
from hub.models import Actor, Delivery, DomainState
from hub.models.base import utcnow
from hub.services import delivery

RETRY_AFTER = 2  # seconds the 503 servers ask for
# Short deadline, pause and retry base so that a run sees pauses end and retries happen.
BROKEN_SETTINGS = {"HUB_DELIVERY_TIMEOUT": 4.0, "HUB_DELIVERY_PAUSE_BASE": 2.0,
                   "HUB_DELIVERY_RETRY_BASE": 1.0}


def _wait(predicate, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def _first_ok(events, since: float) -> dict[str, float]:
    """First successful arrival time per "address/path" after `since`."""
    first: dict[str, float] = {}
    for address, path, at, kind in events:
        if at >= since and kind in (OK, LATENCY):
            first.setdefault(f"{address}{path}", at)
    return first


def _seconds_to_reach(sink, keys: set[str], since: float, timeout: float) -> float:
    """Seconds from `since` until every "address/path" in keys had a successful request (inf when
    they had not all had one within `timeout`)."""
    if not _wait(lambda: keys <= set(_first_ok(sink.stats(True)["events"], since)), timeout, 0.2):
        return float("inf")
    first = _first_ok(sink.stats(True)["events"], since)
    return max(first[k] for k in keys) - since


def _plan(network, smoke: bool) -> dict[str, list]:
    """Which servers are broken, and how (shares of issue 4)."""
    rng = random.Random(11)
    servers = list(network.addresses)
    rng.shuffle(servers)
    n = len(servers)
    cut = [round(n * share) for share in (0.10, 0.05, 0.02)]
    silent, refused, slow = servers[:cut[0]], servers[cut[0]:cut[0] + cut[1]], servers[-cut[2]:]
    rest = servers[cut[0] + cut[1]:n - cut[2]]
    unavailable = [a for a in rest if a in network.shared][:round(n * 0.05)]
    healthy = [a for a in rest if a not in unavailable]
    return {"silent": silent, "refused": refused, "slow": slow, "unavailable": unavailable,
            "healthy": healthy}


class BrokenHub:
    """A hub whose organisation's followers are spread over servers of which 22 % are broken."""

    def __init__(self, smoke: bool):
        followers, self.servers = (200, 40) if smoke else (10_000, 1_000)
        self.settings = dict(BROKEN_SETTINGS, HUB_DELIVERY_TIMEOUT=1.5) if smoke else BROKEN_SETTINGS
        self.env = HubEnv(**self.settings)
        self.sink = None
        try:
            self.network = build("broken", followers, self.servers, free_port(), first_octet=3)
            self.plan = _plan(self.network, smoke)
            behaviours = {a: Behaviour() for a in self.plan["healthy"]}
            behaviours.update({a: Behaviour(kind=SILENT) for a in self.plan["silent"]})
            behaviours.update({a: Behaviour(kind=LATENCY, delay=3.0) for a in self.plan["slow"]})
            behaviours.update({a: Behaviour(script=[UNAVAILABLE], retry_after=RETRY_AFTER)
                               for a in self.plan["unavailable"]})
            self.sink = SinkProcess(behaviours)  # the refused servers have nothing listening
            self.workers = start_workers(self.env, **self.settings)
            warm_up(self.network, self.plan["healthy"][0], self.sink)
            self.healthy_keys = set().union(*(self.network.paths_of(a) for a in self.plan["healthy"]))
        except BaseException:
            self.close()
            raise

    def first_post(self) -> float:
        """Publish while every server is still unknown; seconds until every healthy inbox had it."""
        started = time.time()
        publish(self.network, 1)
        return _seconds_to_reach(self.sink, self.healthy_keys, started, 60)

    def retry_after_waits(self) -> list[float | None]:
        """Per 503 server, seconds from its 503 to its first delivery (None: not delivered in 30 s)."""
        def delivered():
            events = self.sink.stats(True)["events"]
            return all(any(e[0] == f"{h}:{p}" and e[3] == OK for e in events)
                       for h, p in self.plan["unavailable"])
        _wait(delivered, 30, 0.2)
        events = self.sink.stats(True)["events"]
        waits = []
        for host, port in self.plan["unavailable"]:
            mine = [e for e in events if e[0] == f"{host}:{port}"]
            refused_at = min((e[2] for e in mine if e[3] == UNAVAILABLE), default=None)
            ok_at = min((e[2] for e in mine if e[3] == OK), default=None)
            waits.append(ok_at - refused_at if refused_at is not None and ok_at is not None else None)
        return waits

    def dead_host_attempts(self) -> dict:
        """Once the dead hosts are known dead, a second post: connection attempts per dead host per
        probe round (silent and refusing hosts), then the workers stopped."""
        dead = {f"{h}:{p}" for h, p in self.plan["silent"] + self.plan["refused"]}
        _wait(lambda: _paused(dead) >= len(dead), 30, 0.2)
        before, rounds_before = self.sink.stats(True)["connections"], _failures(dead)
        second = time.time()
        activity_id, _ = publish(self.network, 2)
        _seconds_to_reach(self.sink, self.healthy_keys, second, 60)
        # long enough for the probe window and the next pause to end: each dead host is tried again
        timeout = self.settings["HUB_DELIVERY_TIMEOUT"]
        time.sleep(timeout + 5 + self.settings["HUB_DELIVERY_PAUSE_BASE"] * 2.5)
        # stopped workers finish the probes in flight and start none: every connection counted
        # below belongs to a round whose failure is recorded
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            proc.wait(timeout + 30)
        after, rounds = self.sink.stats(True)["connections"], _failures(dead)
        rounds = {d: max(rounds.get(d, 0) - rounds_before.get(d, 0), 1) for d in dead}  # probe rounds seen
        silent = [f"{h}:{p}" for h, p in self.plan["silent"]]
        return {"silent": max(((after.get(a, 0) - before.get(a, 0)) / rounds[a] for a in silent), default=0),
                "refused": _attempts_per_domain(activity_id, {f"{h}:{p}" for h, p in self.plan["refused"]},
                                                rounds),
                "rows": _rows_for(activity_id, dead), "hosts": len(dead), "rounds": max(rounds.values())}

    def close(self) -> None:
        """Stop the sink, the workers and the database."""
        if self.sink:
            self.sink.close()
        self.env.close()


def broken(smoke: bool, context: dict, runs: int = 1) -> list[Figure]:
    """Benchmark 5: the first post's fan-out in `runs` fresh hubs (median judged); then, in the
    last, the 503 servers, the dead hosts' connection attempts and the retry schedule."""
    earlier = []
    for _ in range(runs - 1):
        hub = BrokenHub(smoke)
        try:
            earlier.append(hub.first_post())
        finally:
            hub.close()
    hub = BrokenHub(smoke)
    try:
        plan = hub.plan
        healthy_times = [*earlier, hub.first_post()]
        healthy_time = median(healthy_times)

        waits = hub.retry_after_waits()
        delivered_503 = sum(w is not None for w in waits)
        shortest = min((w for w in waits if w is not None), default=0.0)
        dead = hub.dead_host_attempts()
        tries = max(dead["silent"], dead["refused"])
        healthy_base = context.get("healthy") if not smoke else None
        figures = [
            Figure("broken", "healthy inboxes all served, with 22 % of servers broken", healthy_time, "s",
                   "≤ 1.25× the all-healthy fan-out",
                   (healthy_time / healthy_base <= 1.25) if healthy_base else None,
                   healthy_base, "all-healthy fan-out (benchmark 1)",
                   healthy_time / healthy_base if healthy_base else None, runs=healthy_times,
                   note=f"median of {len(healthy_times)} fresh hubs; {len(plan['silent'])} silent, "
                        f"{len(plan['refused'])} refusing, "
                        f"{len(plan['unavailable'])} answering 503, {len(plan['slow'])} slow (3 s) "
                        f"of {hub.servers}"),
            Figure("broken", "connection attempts per dead host per retry round, new post included", tries,
                   "attempts", "≤ 1",
                   tries <= 1, None, "", None,
                   note=f"{dead['rows']} deliveries of the second post went to {dead['hosts']} dead hosts; "
                        f"silent max {dead['silent']:.2f}, refusing max {dead['refused']:.2f} per round; "
                        f"up to {dead['rounds']} rounds per host in the window"),
            Figure("broken", "503 servers delivered after their Retry-After", shortest, "s (shortest wait)",
                   f"all delivered, none before {RETRY_AFTER} s",
                   delivered_503 == len(waits) and shortest >= RETRY_AFTER,
                   RETRY_AFTER, "Retry-After", shortest / RETRY_AFTER,
                   note=f"{delivered_503} of {len(waits)} delivered"),
            Figure("broken", "retry schedule span", delivery.schedule_total() / 86400, "days",
                   "about 2 days or more",
                   delivery.schedule_total() >= 2 * 86400, None, "", None,
                   note=f"{delivery.MAX_ATTEMPTS} attempts, computed from the schedule constants"),
        ]
        return figures
    finally:
        hub.close()


def broken_large(smoke: bool, healthy: float | None) -> list[Figure]:
    """The 100,000-follower fan-out (2,000 in smoke mode) with 10 % of its servers never answering,
    at the hub's default delivery deadline (reported, not judged): a fan-out that outlasts the
    worker's rounds must not wait for the silent servers' deadlines (hub.worker.run_round)."""
    followers, servers = (2_000, 100) if smoke else (100_000, 5_000)
    env = HubEnv()
    sink = None
    try:
        network = build("broad", followers, servers, free_port(), first_octet=6)
        silent = set(network.addresses[::10])
        answering = [a for a in network.addresses if a not in silent]
        sink = SinkProcess({a: Behaviour(kind=SILENT if a in silent else OK) for a in network.addresses})
        start_workers(env)
        warm_up(network, answering[0], sink)
        keys = set().union(*(network.paths_of(a) for a in answering))
        started = time.time()
        publish(network, 1)
        seconds = _seconds_to_reach(sink, keys, started, 300)
        if seconds == float("inf"):
            raise RuntimeError("the healthy inboxes were not all reached in 300 s")
        title = f"healthy inboxes all served, {followers:,} followers on {servers:,} servers, 10 % silent"
        note = (f"{len(keys)} healthy inboxes, {len(silent)} silent servers; the default "
                f"{DELIVERY_SETTINGS['HUB_DELIVERY_TIMEOUT'][0]:g} s deadline per request")
        target = "none (a fan-out longer than the worker's rounds)"
        baseline = f"all-healthy fan-out of {followers:,} followers"
        return [Figure("broken", title, seconds, "s", target, None, healthy, baseline,
                       seconds / healthy if healthy else None, note=note)]
    finally:
        if sink:
            sink.close()
        env.close()


def warm_up(network, address, sink) -> None:
    """One delivery to one healthy server, so the workers have loaded their key and HTTP client."""
    org = db.session.get(Actor, network.org_id)
    delivery.enqueue({"id": f"{org.uri}/bench/warm-up", "type": "Create", "actor": org.uri}, org,
                     [f"http://{address[0]}:{address[1]}/warm-up"])
    db.session.commit()
    sink.wait_for(1, 30)
    sink.ask("reset")


def _paused(domains: set[str]) -> int:
    count = db.session.scalar(select(func.count()).select_from(DomainState).where(
        DomainState.domain.in_(domains), DomainState.consecutive_failures > 0))
    db.session.rollback()
    return count or 0


def _attempts_per_domain(activity_id: int, domains: set[str], rounds: dict[str, int]) -> float:
    """The most attempts any of these domains had for one activity's rows, per probe round."""
    found = db.session.execute(select(Delivery.domain, func.sum(Delivery.attempts)).where(
        Delivery.activity_id == activity_id, Delivery.domain.in_(domains)).group_by(Delivery.domain)).all()
    db.session.rollback()
    return max((int(n or 0) / rounds.get(domain, 1) for domain, n in found), default=0.0)


def _failures(domains: set[str]) -> dict[str, int]:
    """Consecutive network failures recorded per domain (one per failed probe round)."""
    found = dict(db.session.execute(select(DomainState.domain, DomainState.consecutive_failures).where(
        DomainState.domain.in_(domains))).all())
    db.session.rollback()
    return found


def _rows_for(activity_id: int, domains: set[str]) -> int:
    count = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.activity_id == activity_id, Delivery.domain.in_(domains)))
    db.session.rollback()
    return count or 0


def durability(smoke: bool, context: dict) -> list[Figure]:
    """Benchmark 6: kill -9 every delivery worker halfway through the fan-out, then restart."""
    env, sink, network = context["env"], context["sink"], context["network"]
    expected = len(network.expected)
    sink.ask("reset")
    if smoke:  # so few inboxes that they would all be reached before the kill: slow them down
        sink.ask("behave", {f"{h}:{p}": Behaviour(kind=LATENCY, delay=0.3) for h, p in network.addresses})
    started = time.time()
    activity_id, _ = publish(network, 500)
    sink.wait_for(expected // 2, 60)
    for proc in context["workers"]:
        proc.send_signal(signal.SIGKILL)
    for proc in context["workers"]:
        proc.wait(10)
    at_kill = sink.stats()
    in_flight = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.activity_id == activity_id, Delivery.state == "queued", Delivery.locked_until > utcnow()))
    db.session.rollback()
    restarting = time.time()
    context["workers"] = start_workers(env)
    final = sink.wait_for(expected, 120)
    # From the restart, the workers' start-up included: on SQLite start_workers has no lease to
    # wait for and only waits a while, in which the one worker may well have finished.
    rest = max(final["last_at"] - restarting, 0.0) if final["distinct"] >= expected else float("inf")
    lost = expected - final["distinct"]
    duplicates = final["total"] - final["distinct"]
    healthy = context["healthy"]
    note = (f"killed after {at_kill['distinct']} of {expected} inboxes "
            f"({at_kill['last_at'] - started:.2f} s); "
            f"{in_flight} claimed and unrecorded at the kill")
    return [
        Figure("durability", "deliveries lost after kill -9 and restart", lost, "inboxes", "0", lost == 0,
               note=note),
        Figure("durability", "duplicates", duplicates, "requests", f"≤ in flight at the kill ({in_flight})",
               duplicates <= in_flight, in_flight, "claimed, unrecorded at the kill",
               duplicates / in_flight if in_flight else None),
        Figure("durability", "the rest delivered after the restart", rest, "s",
               "≤ 2× the full healthy fan-out",
               rest <= 2 * healthy, healthy, "all-healthy fan-out (benchmark 1)", rest / healthy,
               note="from the restart, the workers' start-up included"),
    ]


def close(context: dict) -> None:
    """Stop what benchmark 1 left running for these."""
    if context.get("sink"):
        context["sink"].close()
    if context.get("env"):
        context["env"].close()
