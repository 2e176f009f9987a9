"""Counting the SQL statements a piece of code runs, to show that a page's queries do not grow
with the items on it."""

from sqlalchemy import event

from hub.extensions import db


def statements_of(call) -> list[str]:
    """The SQL statements `call()` sent to the database, in order."""
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen
