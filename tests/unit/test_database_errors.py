"""Which database errors the worker waits out (the database cannot be reached or used right now)
and which end it (a query that is wrong), told apart on real errors of SQLite and PostgreSQL."""

import os

import pytest
import sqlalchemy as sa
from databases import unreachable_postgresql_url

from hub.extensions import database_unavailable

PG_URL = os.environ.get("HUB_TEST_DATABASE_URL", "")


def error_of(engine, statement: str) -> Exception:
    """The error `statement` raises on `engine`."""
    with pytest.raises(Exception) as caught, engine.connect() as conn:
        conn.execute(sa.text(statement))
    return caught.value


def test_sqlite_locked_past_its_timeout_passes_a_missing_table_does_not(tmp_path):
    path = tmp_path / "hub.db"
    holder = sa.create_engine(f"sqlite:///{path}")
    waiter = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    with holder.connect() as conn:
        conn.execute(sa.text("CREATE TABLE t (x)"))
        conn.commit()
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
        locked = error_of(waiter, "INSERT INTO t VALUES (1)")
        conn.rollback()
    assert "database is locked" in str(locked) and database_unavailable(locked, waiter)
    assert not database_unavailable(error_of(waiter, "SELECT * FROM no_such_table"), waiter)


def test_postgresql_refusing_connections_passes():
    engine = sa.create_engine(unreachable_postgresql_url())
    refused = error_of(engine, "SELECT 1")
    assert "Connection refused" in str(refused) and database_unavailable(refused, engine)


def test_postgresql_dropping_a_connection_passes_a_wrong_query_does_not():
    if not PG_URL:
        pytest.skip("HUB_TEST_DATABASE_URL is not set")
    engine = sa.create_engine(PG_URL)
    with engine.connect() as conn:
        pid = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa.exc.DBAPIError) as dropped:
            conn.execute(sa.text("SELECT 1"))
    assert database_unavailable(dropped.value, engine)
    assert not database_unavailable(error_of(engine, "SELEC 1"), engine)
    assert not database_unavailable(error_of(engine, "SELECT 1 / 0"), engine)
    engine.dispose()
