"""gunicorn settings shared by `make run`, the Docker image and `make bench`: gunicorn reads
./gunicorn.conf.py from its working directory; flags on the command line override these.

WEB_CONCURRENCY (or HUB_WEB_WORKERS) processes, HUB_WEB_THREADS threads each. The app is loaded
once in the master before forking (preload), so the workers share its memory pages.
"""

import os
import sys


def _count(*names: str, default: int) -> int:
    """A positive whole number from the first of these variables that is set; exit with a clear message otherwise."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                sys.exit(f"gunicorn.conf.py: {name} must be a positive whole number, not {value!r}")
            return int(value)
    return default


workers = _count("WEB_CONCURRENCY", "HUB_WEB_WORKERS", default=2)
threads = _count("HUB_WEB_THREADS", default=4)
worker_class = "gthread"
preload_app = True
timeout = 60


def post_fork(server, worker):
    """Database connections the master may have opened while loading are not shared with workers."""
    app = getattr(server.app, "callable", None)
    extensions = getattr(app, "extensions", {})
    if "sqlalchemy" in extensions:
        with app.app_context():
            for engine in extensions["sqlalchemy"].engines.values():
                engine.dispose(close=False)
