"""WSGI entry point for gunicorn: `gunicorn hub.wsgi:app` (`hub web`, `make run`, the Docker image)."""

from hub import create_app
from hub.config import check_folders

app = create_app()
check_folders(app.config)  # before serving: a folder it cannot write to stops the start, with its name
