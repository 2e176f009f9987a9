"""Durable storage of verified inbox rows, with group commit on PostgreSQL.

Each web process has one writer thread (started by the first POST it stores, never at import or
app creation, so none exists in a preloading master before it forks). Request threads hand it
their row and wait; it writes every row waiting at that moment in one INSERT … ON CONFLICT
(activity_uri) DO NOTHING and one COMMIT, then wakes them: N activities, one fsync. A request
answers only after its row is committed. If the batch fails or the writer does not answer within
WAIT_SECONDS, the request thread writes its row itself; the insert ignores a row already there,
so nothing is lost or stored twice. On SQLite every row is written directly.
"""

import logging
import os
import threading

from flask import current_app
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.extensions import db
from hub.models import InboxItem
from hub.services.delivery import WAKE_CHANNEL

log = logging.getLogger(__name__)
MAX_BATCH = 500
WAIT_SECONDS = 5.0
IDLE_EXIT_SECONDS = 10.0
_EXTENSION = "hub.inbox_writer"
_TABLE = InboxItem.__table__
_create_lock = threading.Lock()


def insert_ignoring_duplicates(dialect_name: str):
    """INSERT INTO inbox_items … ON CONFLICT (activity_uri) DO NOTHING for this dialect."""
    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    return insert(_TABLE).on_conflict_do_nothing(index_elements=["activity_uri"])


class _Pending:
    __slots__ = ("row", "done", "ok")

    def __init__(self, row: dict):
        self.row, self.done, self.ok = row, threading.Event(), False


class GroupWriter:
    """One process's writer thread for one engine; `store` is called by request threads."""

    def __init__(self, engine):
        self.engine = engine
        self.pid = os.getpid()
        self.cond = threading.Condition()
        self.waiting: list[_Pending] = []
        self.thread: threading.Thread | None = None
        self.batches = 0

    def store(self, row: dict) -> bool:
        """Queue a row for the next group commit; True once committed, False if the caller must write it."""
        pending = _Pending(row)
        with self.cond:
            self.waiting.append(pending)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self.thread.start()
            self.cond.notify()
        return pending.done.wait(WAIT_SECONDS) and pending.ok

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.waiting:
                    if not self.cond.wait(IDLE_EXIT_SECONDS) and not self.waiting:
                        self.thread = None
                        return
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            ok = self._write([p.row for p in batch])
            for pending in batch:
                pending.ok = ok
                pending.done.set()

    def _write(self, rows: list[dict]) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert_ignoring_duplicates(self.engine.dialect.name), rows)
                conn.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
            self.batches += 1
            return True
        except Exception:  # each request then writes its own row and meets its own error
            log.exception("group commit of %d inbox rows failed; writing them one by one", len(rows))
            return False


def writer() -> GroupWriter | None:
    """This process's writer for the current app (None on SQLite)."""
    if db.engine.dialect.name != "postgresql":
        return None
    extensions, engine = current_app.extensions, db.engine
    found = extensions.get(_EXTENSION)
    if found is None or found.pid != os.getpid() or found.engine is not engine:
        with _create_lock:
            found = extensions.get(_EXTENSION)
            if found is None or found.pid != os.getpid() or found.engine is not engine:
                found = extensions[_EXTENSION] = GroupWriter(engine)
    return found


def store(row: dict) -> None:
    """Store one verified row durably (committed when this returns; a duplicate id is ignored)."""
    group = writer()
    if group is not None and group.store(row):
        return
    session = db.session
    session.execute(insert_ignoring_duplicates(session.get_bind().dialect.name), [row])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
    session.commit()
