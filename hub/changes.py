"""Which tables this process's commits changed: per-process caches (hub.microcache,
services.inbox_cache) hold a `CommitCounter` for the tables they depend on, and drop what they
kept when its value moves.

The tables a transaction wrote are noted from the ORM's flushes and from bulk INSERT/UPDATE/DELETE
statements run through the session, and counted only once the transaction commits.
"""

import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_WRITTEN = "hub.tables_written"
_lock = threading.Lock()
_counters: list["CommitCounter"] = []


class CommitCounter:
    """The number of commits in this process that changed a table `concerns` accepts."""

    def __init__(self, concerns: Callable[[str], bool]):
        self.concerns = concerns
        self.value = 0


def counter(concerns: Callable[[str], bool]) -> CommitCounter:
    """A counter of the commits that changed tables `concerns(table_name)` accepts ('' when unknown)."""
    found = CommitCounter(concerns)
    _counters.append(found)
    return found


def _note(session, tables) -> None:
    session.info.setdefault(_WRITTEN, set()).update(tables)


@event.listens_for(Session, "after_flush")
def _note_flushed(session, _context) -> None:
    written = (*session.new, *session.dirty, *session.deleted)
    _note(session, {getattr(obj, "__tablename__", "") for obj in written})


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _note(state.session, {getattr(getattr(state.statement, "table", None), "name", "")})


@event.listens_for(Session, "after_commit")
def _count_commit(session) -> None:
    tables = session.info.pop(_WRITTEN, None)
    if tables:
        with _lock:
            for found in _counters:
                if any(found.concerns(table) for table in tables):
                    found.value += 1


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop(_WRITTEN, None)
