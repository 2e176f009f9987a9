"""Sending claimed deliveries: one Signer per actor key and one payload per activity for the life
of the worker process, a single probe to domains that recently failed, concurrent POSTs through
federation.delivery, then the outcomes recorded in bulk. A worker claims the next batch once fewer
than half a batch of its rows wait to be posted, so several workers share a large fan-out by how
fast each one signs and sends, not by which one woke first. A row waiting for its server's first
answer has not begun, so a worker behind slow servers leaves the rest to others, but only for
WAITING_COUNTS_SECONDS: rows held by a server that never answers must not stop the claiming."""

import asyncio
import contextlib
import contextvars
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import uvloop
from flask import current_app
from sqlalchemy import Row, select

from federation.addresses import AddressPolicy
from federation.delivery import Client, Job, Result
from federation.signatures import Signer, load_private_key
from hub.extensions import db
from hub.models import Actor, OutgoingActivity
from hub.models.base import utcnow
from hub.services import delivery
from hub.services.delivery import setting

FLUSH_SECONDS = 0.2  # outcomes are recorded in bulk at least this often
# A row waiting for its server's slots counts as begun after this long, so that rows queued behind
# a server that does not answer stop holding back the next claim (bench/README: broken servers).
WAITING_COUNTS_SECONDS = 0.3
# While only slow requests are in flight nothing wakes a drain; it looks for new due rows (and starts
# a due interlude) at least this often.
CLAIM_POLL_SECONDS = 1.0


def signing_threads() -> int:
    """HUB_DELIVERY_SIGNING_THREADS, or when unset one per CPU this process may run on: RSA signing
    releases the interpreter lock, so a worker alone on its machine signs on every core."""
    threads = setting("HUB_DELIVERY_SIGNING_THREADS")
    return len(os.sched_getaffinity(0)) if threads < 0 else int(threads)


class Sender:
    """Sends due deliveries in batches; holds the per-process cache of signing keys."""

    def __init__(self):
        self.signers: dict[tuple[int, str, str], Signer] = {}
        # uvloop's event loop: about a tenth less CPU per delivery than asyncio's own (bench/README.md)
        self.runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        self.policy = None
        self.client: Client | None = None
        self.unrecorded = 0  # rows claimed and not yet recorded
        self.unstarted = 0  # rows claimed to be posted whose post has not begun: this worker's backlog
        self.backlog = 1  # claim more once fewer than this many rows wait to be posted
        self.changed: asyncio.Event | None = None
        self.failure: BaseException | None = None  # the first batch of a drain that failed, and why

    def close(self) -> None:
        """Close the event loop."""
        self.runner.close()

    # -- caches ---------------------------------------------------------------------------------

    def _payloads(self, activity_ids: set[int]) -> dict[int, tuple[int, bytes]]:
        """(actor_id, body bytes) per activity: one query and one encoding per activity per batch."""
        query = select(OutgoingActivity.id, OutgoingActivity.actor_id, OutgoingActivity.payload)
        rows = db.session.execute(query.where(OutgoingActivity.id.in_(activity_ids)))
        return {activity_id: (actor_id, payload.encode("utf-8")) for activity_id, actor_id, payload in rows}

    def _signers(self, actor_ids: set[int]) -> dict[int, Signer]:
        """The Signer of each actor's current key; a private key is parsed once per worker process."""
        query = select(Actor.id, Actor.key_id, Actor.public_key_pem).where(Actor.id.in_(actor_ids))
        current = {row.id: (row.id, row.key_id, row.public_key_pem) for row in db.session.execute(query)}
        missing = [actor_id for actor_id, key in current.items() if key not in self.signers]
        if missing:
            rows = db.session.execute(select(Actor.id, Actor.private_key_pem).where(Actor.id.in_(missing)))
            for actor_id, pem in rows:
                if current[actor_id][1] and pem:
                    self.signers[current[actor_id]] = Signer(current[actor_id][1], load_private_key(pem))
        return {actor_id: self.signers[key] for actor_id, key in current.items() if key in self.signers}

    def _policy(self) -> AddressPolicy:
        if self.policy is None:
            self.policy = AddressPolicy(current_app.config.get("HUB_ALLOW_PRIVATE_NETWORKS") or [])
        return self.policy

    # -- sending --------------------------------------------------------------------------------

    def drain(self, worker_id: int | None = None, *, budget: float | None = None,
              should_stop: Callable[[], bool] = lambda: False,
              interlude: Callable[[], int] | None = None) -> Counter:
        """Send what is due, several batches in flight at once, until nothing is due (or should_stop(),
        or the time budget is spent); the batches in flight always finish. With an interlude, the
        budget does not end the drain: every `budget` seconds interlude() runs on a thread while the
        requests in flight go on, and what it returns is counted as "interlude". Returns counts."""
        work = self._drain(worker_id, budget, should_stop, interlude)
        return self.runner.run(work, context=contextvars.copy_context())  # the caller's app context

    async def _drain(self, worker_id, budget, should_stop, interlude) -> Counter:
        totals: Counter = Counter()
        limit = 2 * setting("HUB_DELIVERY_CONCURRENCY")  # rows claimed and not yet recorded
        self.backlog = max(1, setting("HUB_DELIVERY_BATCH") // 2)
        self._start_counting(unrecorded=0)
        turns = _Interludes(interlude, budget, self.changed)
        tasks: set[asyncio.Task] = set()
        async with self._client() as self.client:
            try:
                while True:
                    for task in [t for t in tasks if t.done()]:
                        tasks.discard(task)
                        task.exception()  # seen; what is raised is the first failure, the cause
                    if self.failure is not None:  # before claiming: the session may be unusable now
                        raise self.failure  # the database, as a rule: the worker waits for it or stops
                    if interluded := turns.collect():  # raises what the interlude raised
                        totals["interlude"] += interluded
                    if not should_stop():
                        turns.start_if_due()
                    while (not should_stop() and self.unrecorded < limit and self.unstarted < self.backlog
                           and turns.may_claim()):
                        batch = self._claim(min(setting("HUB_DELIVERY_BATCH"), limit - self.unrecorded),
                                            worker_id)
                        if batch is None:
                            break
                        totals["claimed"] += len(batch.rows)
                        self.unrecorded += len(batch.rows)
                        self._count_unstarted(len(batch.jobs))
                        tasks.add(asyncio.create_task(self._send(batch, totals)))
                    if not tasks and not turns.running:
                        return totals
                    self.changed.clear()
                    with contextlib.suppress(TimeoutError):  # then look for new due rows, or an interlude
                        await asyncio.wait_for(self.changed.wait(), CLAIM_POLL_SECONDS)
            finally:
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
                await turns.finish()
                self.client = None

    def send_batch(self, limit: int | None = None, worker_id: int | None = None) -> dict:
        """Claim one batch of due deliveries, send it, record the outcomes; returns counts."""
        batch = self._claim(int(limit or setting("HUB_DELIVERY_BATCH")), worker_id)
        counts = Counter(claimed=len(batch.rows) if batch else 0)
        if batch:
            self.runner.run(self._send_alone(batch, counts), context=contextvars.copy_context())
        return dict(counts)

    async def _send_alone(self, batch: "Batch", counts: Counter) -> None:
        self._start_counting(unrecorded=len(batch.rows))
        self._count_unstarted(len(batch.jobs))
        async with self._client() as self.client:
            try:
                await self._send(batch, counts)
            finally:
                self.client = None

    def _start_counting(self, unrecorded: int) -> None:
        """Fresh counters for a drain (or a lone batch), on the running event loop."""
        self.unrecorded, self.unstarted, self.changed, self.failure = unrecorded, 0, asyncio.Event(), None

    def _claim(self, limit: int, worker_id: int | None) -> "Batch | None":
        """Claim due rows and prepare their jobs (payload bytes, signers); None when nothing is due."""
        lock = setting("HUB_DELIVERY_LOCK") or 3 * setting("HUB_DELIVERY_TIMEOUT") + 60
        claimed = delivery.claim_due(limit, lock_seconds=lock, worker_id=worker_id)
        if not claimed:
            return None
        payloads = self._payloads({row.activity_id for row in claimed})
        signers = self._signers({actor_id for actor_id, _ in payloads.values()})
        batch = Batch({row.id: row for row in claimed})
        for row in claimed:
            actor_id, body = payloads.get(row.activity_id, (None, None))
            if actor_id in signers:
                batch.jobs[row.id] = Job(id=row.id, inbox=row.inbox, body=body, signer=signers[actor_id])
            else:
                batch.unsendable.append(row.id)
        suspects = delivery.suspect_domains({row.domain for row in claimed})
        db.session.rollback()  # no transaction stays open during the sending
        batch.suspects = delivery.claim_probes(suspects, setting("HUB_DELIVERY_TIMEOUT") + 5)
        batch.elsewhere = suspects - batch.suspects  # another worker is probing these right now
        return batch

    def _client(self) -> Client:
        return Client(self._policy(), per_host_limit=setting("HUB_DELIVERY_PER_HOST"),
                      total_concurrency=setting("HUB_DELIVERY_CONCURRENCY"),
                      timeout=setting("HUB_DELIVERY_TIMEOUT"),
                      signing_threads=signing_threads())

    async def _send(self, batch: "Batch", totals: Counter) -> None:
        """Send a batch, recording outcomes as they come (every FLUSH_SECONDS): to a domain that
        failed lately only one request goes first; the rest follow if it answers, else wait."""

        async def post(job: Job) -> Result:
            start = _Start(self._count_unstarted, WAITING_COUNTS_SECONDS)
            try:
                return await self.client.post(job, on_start=start)
            finally:
                start()

        try:
            by_domain: dict[str, list[int]] = defaultdict(list)
            for row_id in batch.jobs:
                by_domain[batch.rows[row_id].domain].append(row_id)
            held = {domain: ids[1:] for domain, ids in by_domain.items() if domain in batch.suspects}
            later = utcnow() + timedelta(seconds=setting("HUB_DELIVERY_TIMEOUT") + 5)
            waiting = {i: later for domain in batch.elsewhere for i in by_domain.pop(domain, [])}
            if waiting:
                self._record(batch, [], waiting, totals)
            first = [i for domain, ids in by_domain.items() for i in (ids[:1] if domain in held else ids)]
            self._count_unstarted(len(first) - len(batch.jobs))  # held rows wait for their probe
            pending = {asyncio.ensure_future(post(batch.jobs[i])) for i in first}
            if batch.unsendable:
                self._record(batch, [Result(i, None, None, "no payload or key", "failed")
                                     for i in batch.unsendable], {}, totals)
            while pending:
                done, pending = await asyncio.wait(pending, timeout=FLUSH_SECONDS)
                if not done:
                    continue
                results = [task.result() for task in done]
                reachable, unreachable = _health(results, batch.rows)
                for domain in reachable & held.keys():
                    released = held.pop(domain)
                    self._count_unstarted(len(released))
                    pending |= {asyncio.ensure_future(post(batch.jobs[i])) for i in released}
                pauses = delivery.record_domain_health(reachable, unreachable)
                deferred = {i: pauses.get(domain, batch.rows[i].next_attempt_at)
                            for domain in unreachable & held.keys() for i in held.pop(domain)}
                self._record(batch, results, deferred, totals)
        except Exception as exc:
            # batches sharing a session that failed fail after it, for its reason, with errors of their own
            self.failure = self.failure or exc
            raise
        finally:
            self.changed.set()

    def _count_unstarted(self, rows: int) -> None:
        """Count rows that wait for this worker to begin posting them (negative: they began); once
        fewer than `backlog` wait, wake the claiming loop, before this worker runs out of work."""
        before = self.unstarted
        self.unstarted += rows
        if before >= self.backlog > self.unstarted:
            self.changed.set()

    def _record(self, batch: "Batch", results: list, deferred: dict, totals: Counter) -> None:
        totals.update(delivery.record_results(batch.rows, results, deferred))
        db.session.commit()
        self.unrecorded -= len(results) + len(deferred)
        self.changed.set()


class _Interludes:
    """Runs a drain's interlude on a thread every `every` seconds, so that other work (the worker's
    inbox items) gets its turn while requests to slow or silent servers stay in flight: ending the
    drain instead would wait for each of them, up to HUB_DELIVERY_TIMEOUT. Without an interlude,
    the drain claims until `every` seconds have passed, then lets what is in flight finish."""

    def __init__(self, interlude: Callable[[], int] | None, every: float | None, changed: asyncio.Event):
        self.interlude, self.every, self.changed = interlude, every, changed
        self.due = time.monotonic() + every if every else None
        self.running: asyncio.Future | None = None

    def may_claim(self) -> bool:
        """False once a drain without an interlude has spent its time."""
        return self.interlude is not None or self.due is None or time.monotonic() < self.due

    def start_if_due(self) -> None:
        """Start the interlude on a thread when it is due and not running; it wakes the drain as it ends."""
        if self.interlude is None or self.due is None or self.running is not None:
            return
        if time.monotonic() >= self.due:
            self.running = asyncio.get_running_loop().run_in_executor(None, self.interlude)
            self.running.add_done_callback(lambda _: self.changed.set())
            self.due = time.monotonic() + self.every

    def collect(self) -> int:
        """What a finished interlude returned (0 while it runs); raises what it raised."""
        if self.running is None or not self.running.done():
            return 0
        done, self.running = self.running, None
        return done.result() or 0

    async def finish(self) -> None:
        """Wait for an interlude still running (its error was raised or is not the first)."""
        if self.running is not None:
            await asyncio.wait([self.running])
            self.running.exception()  # seen: the drain already raised its first failure


class _Start:
    """Counts one row as begun, once: when its request holds its slots (its signing follows at once)
    or after `seconds` of waiting for them, whichever comes first."""

    __slots__ = ("count", "timer")

    def __init__(self, count: Callable[[int], None], seconds: float):
        self.count: Callable[[int], None] | None = count
        self.timer = asyncio.get_running_loop().call_later(seconds, self)

    def __call__(self) -> None:
        if self.count is not None:
            self.timer.cancel()
            self.count(-1)
            self.count = None


@dataclass
class Batch:
    """Claimed rows (read-only) and the jobs prepared for them."""

    rows: dict[int, Row]  # claimed deliveries (delivery.claim_due)
    jobs: dict = field(default_factory=dict)
    unsendable: list[int] = field(default_factory=list)
    suspects: set[str] = field(default_factory=set)
    elsewhere: set[str] = field(default_factory=set)


def _health(results: list, rows: dict[int, Row]) -> tuple[set[str], set[str]]:
    """Domains that answered at all (any HTTP status) and domains that failed at the network level."""
    reachable, unreachable = set(), set()
    for result in results:
        domain = rows[result.job_id].domain
        if result.status is not None:
            reachable.add(domain)
        elif result.kind == "retry":
            unreachable.add(domain)
    return reachable, unreachable - reachable
