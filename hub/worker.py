"""The background loop: claims due deliveries and inbox items, runs them, retries.

Any number of workers may run against PostgreSQL: rows are claimed with SKIP LOCKED and a lock
expiry, and each worker holds an advisory lock on its id for as long as it lives, so the rows of a
worker that was killed are released by the next worker that looks (at start and every few
seconds) instead of waiting for the expiry. On SQLite run one worker; it releases every claim as
it starts. SIGTERM or SIGINT lets the batch in flight finish, then the loop exits.

A database that cannot be reached (PostgreSQL restarting, a dropped connection, not up yet, SQLite
locked too long or out of disk) does not end the loop: the worker lets go of its connections and
its lease, waits (1 s, doubling up to 30 s, a warning each time) and starts anew, its claims left
to be released as a dead worker's. Any other error still ends it, for its supervisor to restart.
"""

import contextlib
import functools
import logging
import secrets
import signal
import time
from collections import Counter

from flask import current_app

from hub.extensions import database_unavailable, db, error_line, own_postgresql_connection
from hub.services import delivery, inbox, retention
from hub.services.sender import Sender

log = logging.getLogger(__name__)
IDLE_SLEEP = 0.5
INBOX_BATCH = 200
FEW_ITEMS = INBOX_BATCH // 4
GATHER_SECONDS = 0.05  # after a round with few inbox items, let a trickle gather into a batch
ORPHAN_CHECK_SECONDS = 5.0
ROUND_SECONDS = 5.0  # how often inbox items get a turn while deliveries are being sent
PRUNE_SECONDS = 600.0  # how often old bookkeeping is pruned (hub.services.retention)
PRUNE_BUDGET = 0.5  # seconds one pruning pass may take: new work waits at most that long
PRUNE_BUSY_SHARE = 0.05  # at most this share of a busy worker's time goes to a backlog
OUTAGE_FIRST_WAIT = 1.0  # seconds before trying a database that could not be reached again
OUTAGE_LONGEST_WAIT = 30.0


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
        drop_lease()
        _State.lease = Lease(db.engine)
    return _State.lease


def drop_lease() -> None:
    """Close this process's lease, if it holds one (its advisory lock goes with its connection)."""
    if _State.lease is not None:
        _State.lease.close()
        _State.lease = None


def _inbox_batch() -> int:
    return inbox.process_due(INBOX_BATCH) or 0


def run_round() -> tuple[Counter, int]:
    """Deliveries until none are due, with a batch of inbox items on a thread every ROUND_SECONDS
    meanwhile; then one batch of inbox items. Returns the delivery counts and the items processed.
    On SQLite the deliveries stop for the inbox items' turn instead: two writers in one process
    would fail each other's transactions (SQLite refuses a write to a reader that another
    connection's commit has overtaken), and a small hub's fan-outs take less than a round."""
    turn = None
    if db.engine.dialect.name != "sqlite":
        turn = functools.partial(_inbox_turn, current_app._get_current_object())
    counts = sender().drain(lease().worker_id, budget=ROUND_SECONDS, should_stop=lambda: _State.stopping,
                            interlude=turn)
    return counts, counts.pop("interlude", 0) + _inbox_batch()


def _inbox_turn(app) -> int:
    """Between two turns of a long drain, on a thread with an app context (and so a session) of its
    own: release a dead worker's claims, then one batch of inbox items; returns the items processed."""
    with app.app_context():
        try:
            delivery.release_orphans()
            return _inbox_batch()
        finally:
            db.session.remove()


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


class Outage:
    """While the database cannot be reached: waits of OUTAGE_FIRST_WAIT seconds, doubling up to
    OUTAGE_LONGEST_WAIT, one warning each, and a line when it is back."""

    def __init__(self):
        self.since: float | None = None
        self.wait = OUTAGE_FIRST_WAIT

    def failed(self, exc: BaseException) -> float:
        """Note a failure; the seconds to wait before trying again."""
        if self.since is None:
            self.since, self.wait = time.monotonic(), OUTAGE_FIRST_WAIT
        else:
            self.wait = min(2 * self.wait, OUTAGE_LONGEST_WAIT)
        log.warning("the database cannot be reached (%s); trying again in %g s", error_line(exc), self.wait)
        return self.wait

    def recovered(self, turn_began: float) -> None:
        """Note a turn, begun at `turn_began` (monotonic), that reached the database."""
        if self.since is not None:
            log.warning("the database is reachable again, after %.0f s", turn_began - self.since)
            self.since = None


class Loop:
    """The worker's turns: deliveries and inbox items, orphaned claims released, pruning when due,
    a wait when there was nothing to do. `fresh` (at start, and after the database was lost):
    on SQLite, the only worker releases every claim, all of them left by a process now gone."""

    def __init__(self):
        self.checked = float("-inf")
        self.pruning = Pruning()
        self.fresh = True

    def turn(self) -> None:
        """One round of work, then a pause fitting what it found."""
        current = lease()
        if self.fresh:
            if current.conn is None:
                delivery.release_all_claims()
            self.fresh = False
        if time.monotonic() - self.checked > ORPHAN_CHECK_SECONDS:
            delivery.release_orphans()
            self.checked = time.monotonic()
        counts, items = run_round()
        idle = not counts["claimed"] and not items
        self.pruning.run_if_due(idle)
        if idle:
            current.wait(IDLE_SLEEP)
        elif gathering(counts["claimed"], items):
            time.sleep(GATHER_SECONDS)  # not woken by NOTIFY: every stored activity sends one

    def lost_database(self) -> None:
        """Let go of every connection (they are dead or about to be) and of the lease: its advisory
        lock went with its connection, so this worker's claims are orphans now and it starts anew."""
        with contextlib.suppress(Exception):  # a dead connection may fail to roll back; it is dropped
            db.session.remove()
        db.engine.dispose()
        drop_lease()
        self.checked, self.fresh = float("-inf"), True


def _pause(seconds: float) -> None:
    """Sleep, but stop at once on SIGTERM or SIGINT."""
    deadline = time.monotonic() + seconds
    while not _State.stopping and time.monotonic() < deadline:
        time.sleep(min(0.1, deadline - time.monotonic()))


def run_forever() -> None:
    """Loop over the work, waking on new work (PostgreSQL NOTIFY) or every IDLE_SLEEP; ride out a
    database that goes away (a restart, a dropped connection) by waiting and starting anew."""
    _State.stopping = False
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    loop, outage = Loop(), Outage()
    try:
        while not _State.stopping:
            began = time.monotonic()
            try:
                loop.turn()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise  # a bug: stop loudly, the supervisor starts the worker again
                loop.lost_database()
                _pause(outage.failed(exc))
            else:
                outage.recovered(began)
    finally:
        _State.stopping = False  # a stop ends this loop, not the process's later run_once() calls
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if _State.sender is not None:
            _State.sender.close()
            _State.sender = None
        drop_lease()
