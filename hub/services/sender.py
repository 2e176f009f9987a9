"""Sending claimed deliveries: one Signer per actor key and one payload per activity for the life
of the worker process, a single probe to domains that recently failed, concurrent POSTs through
federation.delivery, then the outcomes recorded in bulk."""

import asyncio
import contextvars
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from federation.addresses import AddressPolicy
from federation.signatures import Signer, load_private_key
from hub.extensions import db
from hub.models import Actor, Delivery, OutgoingActivity
from hub.services import delivery, outbound
from hub.services.delivery import setting


class Sender:
    """Sends due deliveries in batches; holds the per-process cache of signing keys."""

    def __init__(self):
        self.signers: dict[tuple[int, str, str], Signer] = {}
        self.runner = asyncio.Runner()
        self.policy = None
        self.client: outbound.Client | None = None

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
              should_stop: Callable[[], bool] = lambda: False) -> Counter:
        """Send what is due, several batches in flight at once, until nothing is due (or the time
        budget is spent, or should_stop()); the batches in flight always finish. Returns counts."""
        work = self._drain(worker_id, budget, should_stop)
        return self.runner.run(work, context=contextvars.copy_context())  # the caller's app context

    async def _drain(self, worker_id, budget, should_stop) -> Counter:
        async with self._client() as self.client:
            try:
                return await self._drain_with_client(worker_id, budget, should_stop)
            finally:
                self.client = None

    async def _drain_with_client(self, worker_id, budget, should_stop) -> Counter:
        totals: Counter = Counter()
        deadline = time.monotonic() + budget if budget else None
        limit = 2 * setting("HUB_DELIVERY_CONCURRENCY")  # rows claimed and not yet recorded
        in_flight: dict[asyncio.Task, int] = {}
        while True:
            while (not should_stop() and sum(in_flight.values()) < limit
                   and (deadline is None or time.monotonic() < deadline)):
                batch = self._claim(min(setting("HUB_DELIVERY_BATCH"), limit - sum(in_flight.values())),
                                    worker_id)
                if batch is None:
                    break
                totals["claimed"] += len(batch.rows)
                in_flight[asyncio.create_task(self._send(batch))] = len(batch.rows)
            if not in_flight:
                return totals
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                del in_flight[task]
                totals.update(task.result())

    def send_batch(self, limit: int | None = None, worker_id: int | None = None) -> dict:
        """Claim one batch of due deliveries, send it, record the outcomes; returns counts."""
        batch = self._claim(int(limit or setting("HUB_DELIVERY_BATCH")), worker_id)
        counts = Counter(claimed=len(batch.rows) if batch else 0)
        if batch:
            counts.update(self.runner.run(self._send(batch), context=contextvars.copy_context()))
        return dict(counts)

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
                batch.jobs[row.id] = outbound.Job(id=row.id, inbox=row.inbox, body=body,
                                                            signer=signers[actor_id])
            else:
                batch.unsendable.append(row.id)
        batch.suspects = delivery.suspect_domains({row.domain for row in claimed})
        for row in claimed:  # keep the loaded rows as plain values while the network works
            db.session.expunge(row)
        db.session.rollback()  # no transaction stays open during the sending
        return batch

    def _client(self) -> outbound.Client:
        return outbound.Client(self._policy(), per_host_limit=setting("HUB_DELIVERY_PER_HOST"),
                               total_concurrency=setting("HUB_DELIVERY_CONCURRENCY"),
                               timeout=setting("HUB_DELIVERY_TIMEOUT"))

    async def _deliver(self, jobs: list) -> list:
        if not jobs:
            return []
        if self.client is not None:
            return await self.client.deliver(jobs)
        async with self._client() as client:
            return await client.deliver(jobs)

    async def _send(self, batch: "Batch") -> dict:
        """Send a batch (one probe only to suspect domains), then record every outcome."""
        by_domain: dict[str, list[int]] = defaultdict(list)
        for row_id in batch.jobs:
            by_domain[batch.rows[row_id].domain].append(row_id)
        first = [batch.jobs[i] for domain, ids in by_domain.items()
                 for i in (ids[:1] if domain in batch.suspects else ids)]
        results = await self._deliver(first)
        reachable, unreachable = _health(results, batch.rows)
        later = [batch.jobs[i] for domain in batch.suspects & reachable for i in by_domain[domain][1:]]
        if later:
            more = await self._deliver(later)
            results += more
            more_ok, more_bad = _health(more, batch.rows)
            reachable, unreachable = reachable | more_ok, (unreachable | more_bad) - more_ok
        results += [outbound.Result(i, None, None, "no payload or key", "failed")
                    for i in batch.unsendable]
        pauses = delivery.record_domain_health(reachable, unreachable)
        deferred = {i: pauses.get(domain, batch.rows[i].next_attempt_at)
                    for domain in batch.suspects - reachable for i in by_domain[domain][1:]}
        tallies = delivery.record_results(batch.rows, results, deferred)
        db.session.commit()
        return tallies


@dataclass
class Batch:
    """Claimed rows (detached, read-only) and the jobs prepared for them."""

    rows: dict[int, Delivery]
    jobs: dict = field(default_factory=dict)
    unsendable: list[int] = field(default_factory=list)
    suspects: set[str] = field(default_factory=set)


def _health(results: list, rows: dict[int, Delivery]) -> tuple[set[str], set[str]]:
    """Domains that answered at all (any HTTP status) and domains that failed at the network level."""
    reachable, unreachable = set(), set()
    for result in results:
        domain = rows[result.job_id].domain
        if result.status is not None:
            reachable.add(domain)
        elif result.kind == "retry":
            unreachable.add(domain)
    return reachable, unreachable - reachable
