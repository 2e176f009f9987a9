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

import psycopg
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
# One statement, so one round trip and one commit per batch: the rows (duplicates ignored), then
# a NOTIFY that wakes idle workers.
GROUP_INSERT = f"""
WITH stored AS (
  INSERT INTO inbox_items (activity_uri, type, actor_uri, payload, state, attempts, next_attempt_at,
                           received_at, error)
  SELECT uri, kind, actor, payload, 'queued', 0, %(now)s, %(now)s, ''
  FROM unnest(%(uris)s::text[], %(kinds)s::text[], %(actors)s::text[], %(payloads)s::text[])
       AS batch(uri, kind, actor, payload)
  ON CONFLICT (activity_uri) DO NOTHING RETURNING 1)
SELECT count(*), pg_notify('{WAKE_CHANNEL}', '') FROM stored
"""
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
        self.conn: psycopg.Connection | None = None
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
                        self._disconnect()
                        return
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            ok = self._write([p.row for p in batch])
            for pending in batch:
                pending.ok = ok
                pending.done.set()

    def _write(self, rows: list[dict]) -> bool:
        try:
            if self.conn is None or self.conn.closed:
                url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                self.conn = psycopg.connect(url, autocommit=True)
            self.conn.execute(GROUP_INSERT, {
                "now": rows[0]["received_at"], "uris": [r["activity_uri"] for r in rows],
                "kinds": [r["type"] for r in rows], "actors": [r["actor_uri"] for r in rows],
                "payloads": [r["payload"] for r in rows]})
            self.batches += 1
            return True
        except Exception:  # each request then writes its own row and meets its own error
            log.exception("group commit of %d inbox rows failed; writing them one by one", len(rows))
            self._disconnect()
            return False

    def _disconnect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing the inbox writer's connection failed", exc_info=True)
            self.conn = None


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
