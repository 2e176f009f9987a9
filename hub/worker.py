"""The background loop: claims due deliveries and inbox items, runs them, retries.

Any number of workers may run against PostgreSQL (rows are claimed with SKIP LOCKED and a lock
expiry, so a killed worker's rows come back); on SQLite run one. SIGTERM or SIGINT lets the batch
in flight finish, then the loop exits.
"""

import logging
import signal
import time
from collections import Counter

import psycopg

from hub.extensions import db
from hub.services import delivery
from hub.services.sender import Sender

try:  # helper-3's inbox processing; the worker runs without it until it lands
    from hub.services import inbox
except ImportError:  # pragma: no cover - transitional
    inbox = None

log = logging.getLogger(__name__)
IDLE_SLEEP = 0.5
INBOX_BATCH = 200
WAKE_CHANNEL = delivery.WAKE_CHANNEL


class Waiter:
    """Sleeps until work may be due: woken by NOTIFY on PostgreSQL, else after the timeout."""

    def __init__(self, engine):
        self.conn = None
        if engine.dialect.name == "postgresql":
            url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(url, autocommit=True)
            self.conn.execute(f"LISTEN {WAKE_CHANNEL}")

    def wait(self, timeout: float) -> None:
        """Return after a notification or `timeout` seconds."""
        if self.conn is None:
            time.sleep(timeout)
            return
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            pass

    def close(self) -> None:
        """Close the listening connection."""
        if self.conn is not None:
            self.conn.close()


class _State:
    sender: Sender | None = None
    stopping = False


def sender() -> Sender:
    """This process's Sender (its key and payload caches live as long as the process)."""
    if _State.sender is None:
        _State.sender = Sender()
    return _State.sender


def _inbox_batch() -> int:
    if inbox is None or not hasattr(inbox, "process_due"):
        return 0
    return inbox.process_due(INBOX_BATCH) or 0


def _summary(totals: Counter, processed: int) -> dict:
    return {"delivered": totals["ok"], "retrying": totals["retry"], "deferred": totals["deferred"],
            "gone": totals["gone"], "failed": totals["failed"], "processed": processed}


def run_round() -> tuple[Counter, int]:
    """One batch of deliveries and one batch of inbox items."""
    counts = Counter(sender().send_batch())
    return counts, _inbox_batch()


def run_once() -> dict:
    """Process everything due now (deliveries and inbox items, alternately); return counts."""
    totals, processed = Counter(), 0
    while not _State.stopping:
        counts, items = run_round()
        totals.update(counts)
        processed += items
        if not counts["claimed"] and not items:
            break
    return _summary(totals, processed)


def _stop(signum, _frame) -> None:
    log.info("signal %s: finishing the batch in flight, then stopping", signum)
    _State.stopping = True


def run_forever() -> None:
    """Loop over the work, waking on new deliveries (PostgreSQL NOTIFY) or every IDLE_SLEEP."""
    _State.stopping = False
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    waiter = Waiter(db.engine)
    try:
        while not _State.stopping:
            counts, items = run_round()
            if counts["claimed"] or items:
                continue
            waiter.wait(IDLE_SLEEP)
    finally:
        waiter.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if _State.sender is not None:
            _State.sender.close()
            _State.sender = None
