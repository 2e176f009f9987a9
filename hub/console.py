"""Console entry point: `hub …` is `flask --app hub …` with the hub's commands.

`hub worker` and `hub db …` are added here rather than by the app factory (hub/cli.py), so web
processes (`gunicorn hub.wsgi:app`) never import the delivery machinery (aiohttp) nor Alembic:
memory, issue 4. Alembic is imported only when `hub db` runs, not by `hub worker` either.
"""


import click
from flask.cli import FlaskGroup, with_appcontext

from hub import create_app, worker


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
    group.add_command(MigrationCommands())
    group()
