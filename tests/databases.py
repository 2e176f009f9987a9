"""Fresh PostgreSQL databases for tests: created on the test server, dropped afterwards."""

import contextlib
import uuid

import sqlalchemy as sa


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
