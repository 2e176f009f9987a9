"""A short-lived cache of public answers in each web process, in front of the Flask app.

When a post spreads, thousands of people and servers fetch the same actor document, outbox page
and profile page within seconds. A view that answers something public marks the request with
`allow()`; for anonymous GETs (no cookie, no Authorization) the 200 answer is then kept for
HUB_PUBLIC_CACHE_SECONDS and served again without running the app. A commit that changes
anything other than the queue tables clears this process's cache at once; other processes see
the change within the cache's seconds (as the Cache-Control max-age the answers carry already
allows peers to). 0 seconds turns the cache off.
"""

import threading
import time
from collections import OrderedDict

from flask import request

from hub import changes

CACHEABLE = "hub.public_cache"
QUEUE_TABLES = frozenset({"inbox_items", "deliveries", "outgoing_activities", "domains", "notifications",
                          "audit_log"})
MAX_BYTES = 8 * 1024 * 1024  # per process: the hot pages of a busy moment, not the whole site
KEY_HEADERS = ("PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "HTTP_HOST", "HTTP_ACCEPT",
               "HTTP_ACCEPT_LANGUAGE", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
               "HTTP_X_FORWARDED_PREFIX", "wsgi.url_scheme")
_PUBLIC_DATA = changes.counter(lambda table: table not in QUEUE_TABLES)


def allow() -> None:
    """Mark this request's answer as the same for every anonymous reader (kept only if 200)."""
    request.environ[CACHEABLE] = True


class PublicCache:
    """WSGI middleware keeping marked 200 answers to anonymous GETs for `seconds`."""

    def __init__(self, app, seconds: float, max_bytes: int = MAX_BYTES):
        self.app, self.seconds, self.max_bytes = app, seconds, max_bytes
        self._entries: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        key = self._key(environ)
        if key is None:
            return self.app(environ, start_response)
        hit = self._lookup(key)
        if hit is not None:
            status, headers, body = hit
            start_response(status, list(headers))
            return [body]
        return self._run_and_keep(key, environ, start_response)

    def _key(self, environ) -> tuple | None:
        if self.seconds <= 0 or environ.get("REQUEST_METHOD") != "GET":
            return None
        if environ.get("HTTP_COOKIE") or environ.get("HTTP_AUTHORIZATION"):
            return None  # a signed-in member's pages differ from the public ones
        return tuple(environ.get(name, "") for name in KEY_HEADERS)

    def _lookup(self, key: tuple):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, made_in, answer, _ = entry
            if expires < time.monotonic() or made_in != _PUBLIC_DATA.value:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return answer

    def _run_and_keep(self, key: tuple, environ, start_response):
        started = {}

        def remember(status, headers, exc_info=None):
            started["status"], started["headers"] = status, headers
            return start_response(status, headers, exc_info)

        made_in = _PUBLIC_DATA.value
        result = self.app(environ, remember)
        if not environ.get(CACHEABLE) or not started.get("status", "").startswith("200 "):
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if not any(name.lower() == "set-cookie" for name, _ in started["headers"]):
            answer = (started["status"], tuple(started["headers"]), body)
            self._store(key, (time.monotonic() + self.seconds, made_in, answer, len(body) + 512))
        return [body]

    def _store(self, key: tuple, entry) -> None:
        size = entry[3]
        if size > self.max_bytes // 16:
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[3]
