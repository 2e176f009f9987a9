"""The background loop: claims due deliveries and inbox items, runs them, retries.

Any number of workers may run against PostgreSQL: rows are claimed with SKIP LOCKED and a lock
expiry, and each worker holds an advisory lock on its id for as long as it lives, so the rows of a
worker that was killed are released by the next worker that looks (at start and every few
seconds) instead of waiting for the expiry. On SQLite run one worker; it releases every claim as
it starts. SIGTERM or SIGINT lets the batch in flight finish, then the loop exits.
"""

import logging
import secrets
import signal
import time
from collections import Counter

from hub.extensions import db, own_postgresql_connection
from hub.services import delivery, inbox, retention
from hub.services.sender import Sender

log = logging.getLogger(__name__)
IDLE_SLEEP = 0.5
INBOX_BATCH = 200
FEW_ITEMS = INBOX_BATCH // 4
GATHER_SECONDS = 0.05  # after a round with few inbox items, let a trickle gather into a batch
ORPHAN_CHECK_SECONDS = 5.0
ROUND_SECONDS = 5.0  # how long deliveries may keep the worker before inbox items get a turn
PRUNE_SECONDS = 600.0  # how often old bookkeeping is pruned (hub.services.retention)
PRUNE_BUDGET = 0.5  # seconds one pruning pass may take: new work waits at most that long
PRUNE_BUSY_SHARE = 0.05  # at most this share of a busy worker's time goes to a backlog


class Lease:
    """This worker's identity; on PostgreSQL an advisory lock held on its own connection, which
    also LISTENs for new work. The lock vanishes with the process, however it dies."""

    def __init__(self, engine):
        self.worker_id = secrets.randbelow(2**62) + 1
        self.url = str(engine.url)
        self.conn = None
        self.listening = False
        if engine.dialect.name == "postgresql":
            self.conn = own_postgresql_connection(engine)
            self.conn.execute("SELECT pg_advisory_lock(%s)", (self.worker_id,))

    def wait(self, timeout: float) -> None:
        """Return after a NOTIFY of new work or `timeout` seconds."""
        if self.conn is None:
            time.sleep(timeout)
            return
        if not self.listening:
            self.conn.execute(f"LISTEN {delivery.WAKE_CHANNEL}")
            self.listening = True
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            pass

    def close(self) -> None:
        """Give up the identity (its claims become releasable)."""
        if self.conn is not None:
            self.conn.close()


class _State:
    sender: Sender | None = None
    lease: Lease | None = None
    stopping = False


def sender() -> Sender:
    """This process's Sender (its key cache lives as long as the process)."""
    if _State.sender is None:
        _State.sender = Sender()
    return _State.sender


def lease() -> Lease:
    """This process's Lease on the current database."""
    if _State.lease is None or _State.lease.url != str(db.engine.url):
        if _State.lease is not None:
            _State.lease.close()
        _State.lease = Lease(db.engine)
    return _State.lease


def _inbox_batch() -> int:
    return inbox.process_due(INBOX_BATCH) or 0


def run_round() -> tuple[Counter, int]:
    """Deliveries for up to ROUND_SECONDS (batches in flight finish), then one batch of inbox items."""
    counts = sender().drain(lease().worker_id, budget=ROUND_SECONDS, should_stop=lambda: _State.stopping)
    return counts, _inbox_batch()


def run_once() -> dict:
    """Process everything due now (deliveries and inbox items, alternately); return counts."""
    lease()
    delivery.release_orphans()
    totals, processed = Counter(), 0
    while not _State.stopping:
        counts, items = run_round()
        totals.update(counts)
        processed += items
        if not counts["claimed"] and not items:
            break
    return {"delivered": totals["ok"], "retrying": totals["retry"], "deferred": totals["deferred"],
            "gone": totals["gone"], "failed": totals["failed"], "processed": processed}


def gathering(deliveries: int, items: int) -> bool:
    """True after a round that found no deliveries and only a few inbox items: the worker then
    waits GATHER_SECONDS. Each round costs a few milliseconds of queries, and a loop that takes
    activities one or two at a time as they arrive spends more on rounds than on the activities,
    CPU the web processes need while a burst comes in."""
    return not deliveries and 0 < items < FEW_ITEMS


class Pruning:
    """When the loop prunes: as it starts, then every PRUNE_SECONDS, each pass for at most
    PRUNE_BUDGET. A pass that ran out of time (a backlog: the first pass on a hub that kept
    everything, or more grown old than one pass removes) goes on in the next round with nothing to
    do, and in busy rounds at most PRUNE_BUSY_SHARE of the worker's time, so that a fan-out is
    barely held up and a worker that is never idle (a steady stream of inbox activities) still
    keeps up."""

    def __init__(self):
        self.last = float("-inf")
        self.unfinished = False

    def run_if_due(self, idle: bool) -> None:
        """Prune for at most PRUNE_BUDGET seconds if it is time."""
        waited = time.monotonic() - self.last
        catching_up = self.unfinished and (idle or waited >= PRUNE_BUDGET / PRUNE_BUSY_SHARE)
        if not catching_up and waited < PRUNE_SECONDS:
            return
        pruned = retention.prune(PRUNE_BUDGET)
        self.last, self.unfinished = time.monotonic(), not pruned.finished
        if pruned.received or pruned.deliveries or pruned.activities or pruned.folded:
            log.info("pruned %d received activities, %d deliveries and %d sent activities; folded %d "
                     "deliveries of live posts into their reach%s",
                     pruned.received, pruned.deliveries, pruned.activities, pruned.folded,
                     "" if pruned.finished else "; more next time")


def _stop(signum, _frame) -> None:
    log.info("signal %s: finishing the batch in flight, then stopping", signum)
    _State.stopping = True


def run_forever() -> None:
    """Loop over the work, waking on new work (PostgreSQL NOTIFY) or every IDLE_SLEEP."""
    _State.stopping = False
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    current = lease()
    if current.conn is None:
        delivery.release_all_claims()  # SQLite: the only worker, so every claim is a dead one's
    checked, pruning = 0.0, Pruning()
    try:
        while not _State.stopping:
            if time.monotonic() - checked > ORPHAN_CHECK_SECONDS:
                delivery.release_orphans()
                checked = time.monotonic()
            counts, items = run_round()
            idle = not counts["claimed"] and not items
            pruning.run_if_due(idle)
            if idle:
                current.wait(IDLE_SLEEP)
            elif gathering(counts["claimed"], items):
                time.sleep(GATHER_SECONDS)  # not woken by NOTIFY: every stored activity sends one
    finally:
        _State.stopping = False  # a stop ends this loop, not the process's later run_once() calls
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if _State.sender is not None:
            _State.sender.close()
            _State.sender = None
        current.close()
        _State.lease = None
