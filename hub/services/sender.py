"""Sending claimed deliveries: one Signer per actor key and one payload per activity for the life
of the worker process, a single probe to domains that recently failed, concurrent POSTs through
federation.delivery, then the outcomes recorded in bulk."""

import asyncio
from collections import defaultdict
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from federation import delivery as transport_delivery
from federation.signatures import Signer, load_private_key
from federation.transport import AddressPolicy
from hub.extensions import db
from hub.models import Actor, Delivery, OutgoingActivity
from hub.services import delivery
from hub.services.delivery import setting

class Sender:
    """Sends due deliveries in batches; holds the per-process cache of signing keys."""

    def __init__(self):
        self.signers: dict[tuple[int, str, str], Signer] = {}
        self.runner = asyncio.Runner()
        self.policy = None

    def close(self) -> None:
        """Close the event loop."""
        self.runner.close()

    # -- caches ---------------------------------------------------------------------------------

    def _payloads(self, activity_ids: set[int]) -> dict[int, tuple[int, bytes]]:
        """(actor_id, body bytes) per activity: one query and one encoding per activity per batch."""
        rows = db.session.execute(select(OutgoingActivity.id, OutgoingActivity.actor_id, OutgoingActivity.payload)
                                  .where(OutgoingActivity.id.in_(activity_ids)))
        return {activity_id: (actor_id, payload.encode("utf-8")) for activity_id, actor_id, payload in rows}

    def _signers(self, actor_ids: set[int]) -> dict[int, Signer]:
        """The Signer of each actor's current key; a private key is parsed once per worker process."""
        query = select(Actor.id, Actor.key_id, Actor.public_key_pem).where(Actor.id.in_(actor_ids))
        current = {actor_id: (actor_id, key_id, public) for actor_id, key_id, public in db.session.execute(query)}
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

    def _deliver(self, jobs: list) -> list:
        if not jobs:
            return []
        return self.runner.run(transport_delivery.deliver_many(
            jobs, policy=self._policy(), per_host_limit=setting("HUB_DELIVERY_PER_HOST"),
            total_concurrency=setting("HUB_DELIVERY_CONCURRENCY"), timeout=setting("HUB_DELIVERY_TIMEOUT")))

    def send_batch(self, limit: int | None = None, worker_id: int | None = None) -> dict:
        """Claim one batch of due deliveries, send it, record the outcomes; returns counts."""
        lock = setting("HUB_DELIVERY_LOCK") or 3 * setting("HUB_DELIVERY_TIMEOUT") + 60
        claimed = delivery.claim_due(int(limit or setting("HUB_DELIVERY_BATCH")), lock_seconds=lock,
                                     worker_id=worker_id)
        counts = {"claimed": len(claimed), "ok": 0, "retry": 0, "gone": 0, "failed": 0, "deferred": 0}
        if not claimed:
            return counts
        rows = {row.id: row for row in claimed}
        payloads = self._payloads({row.activity_id for row in claimed})
        signers = self._signers({actor_id for actor_id, _ in payloads.values()})
        unsendable = [row for row in claimed
                      if row.activity_id not in payloads or payloads[row.activity_id][0] not in signers]
        sendable = [row for row in claimed if row not in unsendable]
        jobs = {row.id: transport_delivery.Job(
            id=row.id, inbox=row.inbox, body=payloads[row.activity_id][1],
            signer=signers[payloads[row.activity_id][0]]) for row in sendable}
        suspects = delivery.suspect_domains({row.domain for row in sendable})
        for row in claimed:  # keep the loaded rows as plain values while the network works
            db.session.expunge(row)
        db.session.rollback()  # no transaction stays open during the sending
        results, deferred = self._send_with_probes(sendable, jobs, suspects)
        results += [transport_delivery.Result(row.id, None, None, "no payload or key", "failed")
                    for row in unsendable]
        tallies = delivery.record_results(rows, results, deferred)
        db.session.commit()
        counts.update(tallies)
        return counts

    def _send_with_probes(self, rows: list[Delivery], jobs: dict,
                          suspects: set[str]) -> tuple[list, dict[int, datetime]]:
        """Send everything, but to a domain that failed lately only one request until it answers."""
        by_domain: dict[str, list[Delivery]] = defaultdict(list)
        for row in rows:
            by_domain[row.domain].append(row)
        first = [jobs[r.id] for domain, group in by_domain.items()
                 for r in (group[:1] if domain in suspects else group)]
        results = self._deliver(first)
        reachable, unreachable = _health(results, {row.id: row.domain for row in rows})
        later = [jobs[r.id] for d in suspects & reachable for r in by_domain[d][1:]]
        if later:
            more = self._deliver(later)
            results += more
            more_ok, more_bad = _health(more, {row.id: row.domain for row in rows})
            reachable |= more_ok
            unreachable |= more_bad
        pauses = delivery.record_domain_health(reachable, unreachable)
        deferred = {}
        for domain in suspects - reachable:
            for row in by_domain[domain][1:]:
                deferred[row.id] = pauses.get(domain, row.next_attempt_at)
        return results, deferred


def _health(results: list, domains: dict[int, str]) -> tuple[set[str], set[str]]:
    """Domains that answered at all (any HTTP status) and domains that failed at the network level."""
    reachable, unreachable = set(), set()
    for result in results:
        domain = domains[result.job_id]
        if result.status is not None:
            reachable.add(domain)
        elif result.kind == "retry":
            unreachable.add(domain)
    return reachable, unreachable - reachable
