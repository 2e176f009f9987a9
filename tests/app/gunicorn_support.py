"""Real gunicorn for the web-tier tests: where it is, where it runs from, a free port for it."""

import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # gunicorn reads ./gunicorn.conf.py from here
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
