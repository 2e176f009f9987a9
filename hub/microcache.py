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
        self._renewing: set[tuple] = set()  # aged answers one request is renewing
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        key = self._key(environ)
        if key is None:
            return self.app(environ, start_response)
        hit, renew = self._lookup(key)
        if hit is not None:
            status, headers, body = hit
            start_response(status, list(headers))
            return [body]
        return self._run_and_keep(key, environ, start_response, renew)

    def _key(self, environ) -> tuple | None:
        if self.seconds <= 0 or environ.get("REQUEST_METHOD") != "GET":
            return None
        if environ.get("HTTP_COOKIE") or environ.get("HTTP_AUTHORIZATION"):
            return None  # a signed-in member's pages differ from the public ones
        return tuple(environ.get(name, "") for name in KEY_HEADERS)

    def _lookup(self, key: tuple) -> tuple:
        """(kept answer or None, True when this request renews an aged answer). When an answer
        has only aged, one request renews it while the others get it for up to `seconds` more:
        otherwise every thread would rebuild the same page at once, each slowed by the others."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            expires, made_in, answer, _ = entry
            now = time.monotonic()
            if made_in != _PUBLIC_DATA.value or expires + self.seconds < now:
                self._drop(key)
                return None, False
            if expires < now and key not in self._renewing:
                self._renewing.add(key)
                return None, True
            self._entries.move_to_end(key)
            return answer, False

    def _run_and_keep(self, key: tuple, environ, start_response, renew: bool):
        """Run the app; keep its answer when it is cacheable."""
        stored = False
        try:
            result, stored = self._run(key, environ, start_response)
            return result
        finally:
            if renew:
                with self._lock:
                    self._renewing.discard(key)
                    if not stored:  # not cacheable any more (a 404 after a deletion): no stale copy
                        self._drop(key)

    def _run(self, key: tuple, environ, start_response) -> tuple:
        started = {}

        def remember(status, headers, exc_info=None):
            started["status"], started["headers"] = status, headers
            return start_response(status, headers, exc_info)

        made_in = _PUBLIC_DATA.value
        result = self.app(environ, remember)
        if not environ.get(CACHEABLE) or not started.get("status", "").startswith("200 "):
            return result, False
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if any(name.lower() == "set-cookie" for name, _ in started["headers"]):
            return [body], False
        answer = (started["status"], tuple(started["headers"]), body)
        return [body], self._store(key, (time.monotonic() + self.seconds, made_in, answer, len(body) + 512))

    def _store(self, key: tuple, entry) -> bool:
        size = entry[3]
        if size > self.max_bytes // 16:
            return False
        with self._lock:
            self._drop(key)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
        return True

    def _drop(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[3]
