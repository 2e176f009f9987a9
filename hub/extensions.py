"""Flask extensions, created unbound and initialised in the app factory."""


from flask import Flask
from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraint names are stable across databases."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def use_write_ahead_log(engine: Engine) -> None:
    """On SQLite, open every connection in WAL mode: readers no longer wait for a writer, and a
    commit is one append to the log instead of a rollback journal written, synced and deleted."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _write_ahead_log)


def _write_ahead_log(dbapi_connection, _record) -> None:
    # Persistent in the database file; an in-memory database answers "memory" and stays so.
    # synchronous stays FULL: each commit is synced, so an accepted activity survives a power cut.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def own_postgresql_connection(engine: Engine):
    """A psycopg connection of its own, outside the pool, in autocommit: psycopg as the PostgreSQL
    engine loaded it, so a SQLite hub never imports the driver."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return engine.dialect.loaded_dbapi.connect(url, autocommit=True)


# SQLite's OperationalErrors that pass: a lock held past the busy timeout, a full or failing disk.
# Others ("no such table", a syntax error) are mistakes that waiting does not mend.
SQLITE_PASSING = ("locked", "disk", "unable to open")


def database_unavailable(exc: BaseException, engine: Engine | None = None) -> bool:
    """True when `exc` says the database cannot be reached or used right now (restarted, a dropped
    connection, refused, out of disk, SQLite locked too long), not that a query was wrong."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    dialect = (engine or db.engine).dialect
    if not isinstance(exc, dialect.loaded_dbapi.OperationalError):  # psycopg's or sqlite3's (PEP 249)
        return False
    return dialect.name != "sqlite" or any(word in str(exc) for word in SQLITE_PASSING)


def error_line(exc: BaseException) -> str:
    """The first line of a database error's own message (the driver's, without SQLAlchemy's SQL)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class PendingMigrate:
    """Stands in app.extensions["migrate"] until a migration runs (`hub db …`, tests, the bench),
    then binds Flask-Migrate: it imports Alembic, ~12 MB in every process, which the web and
    delivery workers never use (issue 4)."""

    def __init__(self, app: Flask, **options):
        self.app, self.options = app, options
        app.extensions["migrate"] = self

    def __getattr__(self, name: str):
        # Imported late, for memory: only processes that migrate load Alembic.
        import flask_migrate
        flask_migrate.Migrate().init_app(self.app, db, **self.options)  # replaces this stand-in
        return getattr(self.app.extensions["migrate"], name)
