"""Databases for tests: fresh PostgreSQL databases (created on the test server, dropped afterwards),
one where nothing listens, and what a PostgreSQL restart does to a client's connections."""

import contextlib
import socket
import uuid

import sqlalchemy as sa

from hub.extensions import db


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str):
    """A new, empty database on admin_url's server, named prefix_<random>: yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def unreachable_postgresql_url() -> str:
    """A PostgreSQL URL where nothing listens (a server restarting): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again on leaving: nothing listens there
    return f"postgresql+psycopg://hub@127.0.0.1:{port}/hub"


def drop_connections(application_name: str) -> int:
    """What a PostgreSQL restart does to a client: its connections end (only those that gave this
    application_name, from the test's own database session); how many."""
    dropped = db.session.scalar(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                        "WHERE application_name = :name"), {"name": application_name})
    db.session.rollback()
    return dropped
