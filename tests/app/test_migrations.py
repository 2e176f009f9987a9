"""The migrations: what they build is what the models describe, and the newest one can be undone
and done again, on SQLite and on PostgreSQL."""

import contextlib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PG_URL, _base_config
from databases import fresh_database
from flask_migrate import downgrade, upgrade

from hub import create_app
from hub.extensions import db


@contextlib.contextmanager
def empty_database(kind: str, tmp_path):
    """The URL of a new, empty database of this kind."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    if not PG_URL:
        pytest.skip("HUB_TEST_DATABASE_URL is not set")
    with fresh_database(PG_URL, "hub_migrations") as url:
        yield url


def _differences() -> list:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migrations_build_the_models_and_the_newest_goes_down_and_up(kind, tmp_path):
    with empty_database(kind, tmp_path) as url:
        app = create_app(_base_config(tmp_path, url))
        with app.app_context():
            try:
                upgrade()
                assert _differences() == []
                tables = set(sa.inspect(db.engine).get_table_names())
                assert {"post_reach", "deliveries", "posts"} <= tables
                downgrade(revision="0001")
                assert "post_reach" not in sa.inspect(db.engine).get_table_names()
                upgrade()
                assert _differences() == []
            finally:
                db.session.remove()
                db.engine.dispose()
