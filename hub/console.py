"""Console entry point: `hub …` is `flask --app hub …` with the hub's commands."""

from flask.cli import FlaskGroup

from hub import create_app


def main() -> None:
    """Run the hub command line."""
    FlaskGroup(create_app=create_app, help="CSO Hub command line.")()
