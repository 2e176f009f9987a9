"""Durable storage of verified inbox rows, with group commit.

Request threads of one web process queue their rows; the first one to find no write in progress
becomes the leader: it waits briefly for the rows of the other threads seen busy, writes every
queued row in one INSERT … ON CONFLICT (activity_uri) DO NOTHING and one COMMIT (N activities,
one fsync), hands the lead to the oldest row queued meanwhile, and wakes the rows it wrote. No
extra thread: the leader is a request that would have waited anyway. A request answers only
after its row is committed. If the batch fails or the row is not written within WAIT_SECONDS, the
request thread writes its row itself; the insert ignores a row already there, so nothing is lost
or stored twice. On PostgreSQL the batch is one statement on the writer's own connection; on SQLite
it is one transaction on a pooled connection (one WAL append and fsync, and one writer's lock
taken instead of one per request), and the web processes take turns at it on a file lock.
"""

import fcntl
import logging
import os
import threading
import time

from flask import current_app
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.extensions import database_unavailable, db, error_line, own_postgresql_connection
from hub.models import InboxItem
from hub.services.delivery import WAKE_CHANNEL

log = logging.getLogger(__name__)
MAX_BATCH = 500
WAIT_SECONDS = 5.0
GATHER_SECONDS = 0.001  # at most this long a leader waits for the rows of the other busy threads
BUSY_SECONDS = 0.02  # a thread that queued a row this recently is counted as busy
_EXTENSION = "hub.inbox_writer"
_TABLE = InboxItem.__table__
# One statement, so one round trip and one commit per batch: the rows (duplicates ignored), then
# a NOTIFY that wakes idle workers. The arrays go in binary (%b): psycopg escapes text arrays
# in Python, which cost twice the round trip.
GROUP_INSERT = f"""
WITH stored AS (
  INSERT INTO inbox_items (activity_uri, type, actor_uri, payload, state, attempts, next_attempt_at,
                           received_at, error)
  SELECT uri, kind, actor, payload, 'queued', 0, %(now)s, %(now)s, ''
  FROM unnest(%(uris)b::text[], %(kinds)b::text[], %(actors)b::text[], %(payloads)b::text[])
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
    """One request's row; `signal` is released when its batch is written or when it is to lead."""

    __slots__ = ("row", "signal", "ok", "lead")

    def __init__(self, row: dict):
        self.row, self.ok, self.lead = row, False, False
        self.signal = threading.Lock()
        self.signal.acquire()


class SqliteWritersTurn:
    """The web processes' turns at writing inbox batches to one SQLite file: an flock on a file
    beside it (`hub.db-inbox.lock`), held for one transaction. SQLite's own lock makes a writer that
    finds it taken sleep and retry (1, 2, 5 … 100 ms) while the process that just committed takes
    it again, so under load a request could wait hundreds of milliseconds; a process waiting on the
    flock is woken as soon as it is released. An in-memory database has no other process."""

    def __init__(self, database: str | None):
        self.path = f"{database}-inbox.lock" if database and database != ":memory:" else None
        self.file = None

    def __enter__(self):
        if self.path:
            if self.file is None:
                self.file = open(self.path, "a")  # kept open: the lock lives on it
            fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)


class GroupWriter:
    """One process's group commit for one engine; `store` is called by request threads."""

    def __init__(self, engine):
        self.engine = engine
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.queued = threading.Condition(self.lock)  # notified when a row is queued
        self.waiting: list[_Pending] = []
        self.writing = False  # a leader is writing; rows queued meanwhile wait for the next one
        self.last_row_of: dict[int, float] = {}  # thread id: when it last queued a row
        self.conn = self.cursor = None  # psycopg's, PostgreSQL only
        self.batches = 0
        self.sqlite_turn = SqliteWritersTurn(engine.url.database) if engine.dialect.name == "sqlite" else None

    def store(self, row: dict) -> bool:
        """Queue a row for the next group commit; True once committed, False if the caller must write it."""
        pending = _Pending(row)
        with self.lock:
            self.waiting.append(pending)
            self.last_row_of[threading.get_ident()] = time.monotonic()
            pending.lead, self.writing = not self.writing, True
            if not pending.lead:
                self.queued.notify()
        if not pending.lead and not self._wait(pending):
            return False
        if pending.lead:
            self._lead()
        return pending.ok

    def _wait(self, pending: _Pending) -> bool:
        """Wait until the row is written or is to lead; False when the caller gives up and writes it."""
        if pending.signal.acquire(timeout=WAIT_SECONDS):
            return True
        with self.lock:
            if pending.lead:  # made the leader just as the wait ended: someone must lead
                return True
            if pending in self.waiting:
                self.waiting.remove(pending)
        return False

    def _lead(self) -> None:
        """Write the queued rows as one batch, pass the lead on, wake the rows written."""
        with self.lock:
            self._gather()
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
        ok = False
        try:
            ok = self._write([p.row for p in batch])
        finally:
            with self.lock:
                if self.waiting:
                    self.waiting[0].lead = True
                    self.waiting[0].signal.release()
                else:
                    self.writing = False
            for pending in batch:
                pending.ok = ok
                if not pending.lead:
                    pending.signal.release()

    def _gather(self) -> None:
        """Under the lock: wait, for at most GATHER_SECONDS, until every thread that queued a row
        within BUSY_SECONDS has queued another. A commit costs about the same whatever its size:
        under load the batches grow from about 2 rows to the number of busy threads, while a
        request that comes alone does not wait."""
        now = time.monotonic()
        for thread, last in list(self.last_row_of.items()):
            if now - last > BUSY_SECONDS:
                del self.last_row_of[thread]
        expected, deadline = min(len(self.last_row_of), MAX_BATCH), now + GATHER_SECONDS
        while len(self.waiting) < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.queued.wait(left)

    def _write(self, rows: list[dict]) -> bool:
        try:
            if self.engine.dialect.name == "postgresql":
                self._write_postgresql(rows)
            else:
                with self.sqlite_turn, self.engine.begin() as conn:
                    conn.execute(insert_ignoring_duplicates(self.engine.dialect.name), rows)
            self.batches += 1
            return True
        except Exception as exc:  # each request then writes its own row and meets its own error
            if database_unavailable(exc, self.engine):
                log.warning("group commit of %d inbox rows failed: the database cannot be reached (%s)",
                            len(rows), error_line(exc))
            else:
                log.exception("group commit of %d inbox rows failed; writing them one by one", len(rows))
            self._disconnect()
            return False

    def _write_postgresql(self, rows: list[dict]) -> None:
        if self.conn is None or self.conn.closed:
            self.conn = own_postgresql_connection(self.engine)
            self.cursor = self.conn.cursor(binary=True)  # one cursor, binary results
        self.cursor.execute(GROUP_INSERT, {
            "now": rows[0]["received_at"], "uris": [r["activity_uri"] for r in rows],
            "kinds": [r["type"] for r in rows], "actors": [r["actor_uri"] for r in rows],
            "payloads": [r["payload"] for r in rows]})

    def _disconnect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing the inbox writer's connection failed", exc_info=True)
            self.conn = self.cursor = None


def writer() -> GroupWriter:
    """This process's writer for the current app."""
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
    if writer().store(row):
        return
    session = db.session
    session.execute(insert_ignoring_duplicates(session.get_bind().dialect.name), [row])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
    session.commit()
