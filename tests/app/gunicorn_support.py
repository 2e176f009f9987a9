"""Real gunicorn for the web-tier tests: where it is (and the `hub` command), where it runs from, a
free port for it, and whether it answers."""

import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # gunicorn reads ./gunicorn.conf.py from here
GUNICORN = Path(sys.executable).parent / "gunicorn"
HUB = Path(sys.executable).parent / "hub"


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(port: int, path: str = "/") -> int:
    """The status of a GET to 127.0.0.1:port (0 when nothing answers HTTP there)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            status_line = sock.recv(16)
    except OSError:
        return 0
    code = status_line[9:12]
    return int(code) if status_line.startswith(b"HTTP/1.") and code.isdigit() else 0
