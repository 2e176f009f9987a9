"""The tests' own small HTTP servers (fake peers on loopback)."""

import sys
from http.server import ThreadingHTTPServer


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded server that prints no traceback when a client drops its connection: the code under
    test closes, by design, connections whose answers it refuses or no longer waits for, and the
    server notices while it waits for the next request on them. Other errors are printed as usual."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        """Print the traceback of any error but a dropped connection."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
