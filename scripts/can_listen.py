"""`make run`'s first check: can gunicorn listen on HUB_BIND (host:port)? Otherwise say so and how to
choose another port: gunicorn alone would retry for five seconds, logging errors, then stop."""

import socket
import sys


def main(bind: str) -> None:
    """Exit with a message when nothing may listen on `bind` now (a unix: socket is not checked)."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        return
    host = host.strip("[]")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            sys.exit(f"Error: cannot listen on {bind}: {exc.strerror}. If another program uses that port, "
                     "stop it or choose another one, e.g. HUB_BIND=127.0.0.1:5001 HUB_DOMAIN=localhost:5001 "
                     "make run")


if __name__ == "__main__":
    main(sys.argv[1])
