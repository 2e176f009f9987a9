"""Console entry point: `hub …` is `flask --app hub …` with the hub's commands.

`hub web` starts gunicorn with the hub's settings file (hub/gunicorn.conf.py, in the wheel too), so
an installed hub runs with them from any directory; plain `gunicorn` finds them only as
./gunicorn.conf.py in the source tree.

`hub worker` and `hub db …` are added here rather than by the app factory (hub/cli.py), so web
processes (`gunicorn hub.wsgi:app`) never import the delivery machinery (aiohttp) nor Alembic:
memory, issue 4. Alembic is imported only when `hub db` runs, not by `hub worker` either.
"""


import os
import sys
from pathlib import Path

import click
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from hub import create_app, worker
from hub.config import ConfigError, load_config
from hub.extensions import database_unavailable, error_line


@click.command("worker")
@click.option("--once", is_flag=True, help="Drain what is due now, then exit.")
@with_appcontext
def worker_command(once):
    """Run deliveries and inbox processing."""
    if once:
        stats = worker.run_once()
        click.echo(" ".join(f"{k}={v}" for k, v in stats.items()))
    else:
        worker.run_forever()


GUNICORN_SETTINGS = Path(__file__).resolve().parent / "gunicorn.conf.py"


@click.command("web", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("gunicorn_options", nargs=-1, type=click.UNPROCESSED)
def web_command(gunicorn_options):
    """Run the web app under gunicorn with the hub's settings; options go to gunicorn (e.g. --bind)."""
    if {"-h", "--help"} & set(gunicorn_options):
        click.echo(f"Usage: hub web [GUNICORN OPTIONS]\n\n  {web_command.help}\n  Settings: "
                   f"{GUNICORN_SETTINGS}; the app is hub.wsgi:app. gunicorn's options:\n", nl=False)
        sys.stdout.flush()
    command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_SETTINGS), *gunicorn_options,
               "hub.wsgi:app"]
    os.execv(sys.executable, command)  # gunicorn's master takes this process's place (signals, pid)


class MigrationCommands(click.Group):
    """`hub db …`: Flask-Migrate's commands, imported (with Alembic) only when `db` is used."""

    def __init__(self):
        super().__init__("db", help="Perform database migrations.")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Take Flask-Migrate's group options, callback and commands, then parse as it would."""
        # Imported late, for memory: Alembic is ~12 MB that `hub worker` never needs.
        from flask_migrate.cli import db as commands
        self.params, self.callback, self.commands = commands.params, commands.callback, commands.commands
        return super().parse_args(ctx, args)


def main() -> None:
    """Run the hub command line."""
    group = FlaskGroup(create_app=create_app, help="CSO Hub command line.")
    group.add_command(worker_command)
    group.add_command(web_command)
    group.add_command(MigrationCommands())
    try:
        group()
    except ConfigError as exc:  # a malformed setting: its message, not a traceback
        sys.exit(f"Error: {exc}")
    except Exception as exc:
        message = database_trouble(exc)
        if message is None:  # a bug, or a query the hub got wrong: the traceback, to report
            raise
        sys.exit(f"Error: {message}")


UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a table that does not exist


def database_trouble(exc: Exception) -> str | None:
    """What an operator is told when a command meets a database that is not there or not set up
    (down, refused, a wrong password, no tables yet); None for any other error."""
    engine = create_engine(load_config()["SQLALCHEMY_DATABASE_URI"])  # never connected: its driver's errors
    where = engine.url.render_as_string(hide_password=True)
    error = exc.orig if isinstance(exc, DBAPIError) else exc  # SQLAlchemy's wrapper, or the driver's own
    if isinstance(error, engine.dialect.loaded_dbapi.Error) and (
            "no such table" in str(error) or getattr(error, "sqlstate", None) == UNDEFINED_TABLE):
        return (f"the database at {where} has no hub tables yet ({error_line(error)}): "
                "run `hub db upgrade` first")
    if database_unavailable(error, engine):
        return (f"the database at {where} cannot be used: {error_line(error)} "
                "(is it running, and is DATABASE_URL right?)")
    return None
