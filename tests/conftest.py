"""Shared fixtures: an app on a migrated database (SQLite always, PostgreSQL when
HUB_TEST_DATABASE_URL is set), a client, and helpers to make organisations and staff."""

import os
import shutil

import pytest
import sqlalchemy as sa
from databases import fresh_database
from flask_migrate import upgrade

from hub import create_app
from hub.extensions import db
from hub.services import orgs, users

PG_URL = os.environ.get("HUB_TEST_DATABASE_URL", "")
DATABASES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
TEST_DOMAIN = "hub.test"
PASSWORD = "correct horse battery"


def _base_config(tmp_path, db_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "HUB_DOMAIN": TEST_DOMAIN,
        "HUB_SCHEME": "http",
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_MEDIA_DIR": str(tmp_path / "media"),
        "SQLALCHEMY_DATABASE_URI": db_url,
        "HUB_ALLOW_PRIVATE_NETWORKS": ["127.0.0.0/8"],
        # The same Argon2id code at a lower cost: the suite hashes hundreds of passwords.
        "HUB_ARGON2_TIME_COST": 1,
        "HUB_ARGON2_MEMORY_KIB": 8192,
    }


def _migrate(db_url: str, tmp_path) -> None:
    app = create_app(_base_config(tmp_path, db_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite database migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    _migrate(f"sqlite:///{path}", tmp_path_factory.mktemp("inst"))
    return path


@pytest.fixture(scope="session")
def pg_database(tmp_path_factory):
    """A PostgreSQL database of our own on the CI server, migrated once, dropped at the end."""
    if not PG_URL:
        pytest.skip("HUB_TEST_DATABASE_URL is not set")
    with fresh_database(PG_URL, "hub_test") as url:
        _migrate(url, tmp_path_factory.mktemp("inst"))
        yield url


def _truncate_all(app) -> None:
    with app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    """The URL of a freshly migrated, empty database of each kind under test."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def app(db_url, tmp_path):
    """The hub on an empty migrated database, with an app context pushed."""
    app = create_app(_base_config(tmp_path, db_url))
    if db_url.startswith("postgresql"):
        _truncate_all(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def make_org(app):
    """Factory: make_org('handle', 'Name') creates an organisation."""
    return lambda handle="lao_cso", name="ອົງການທົດລອງ": orgs.create_org(handle, name)


@pytest.fixture
def make_user(app):
    """Factory: make_user('a@x.la', org=org, role='editor') creates a staff member."""
    def make(email, org=None, role="owner", admin=False, locale=None):
        user = users.create_user(email, PASSWORD, is_admin=admin, locale=locale)
        if org is not None:
            orgs.add_member(org, user, role)
        return user

    return make
