"""Inbox POSTs answered in front of Flask's request machinery (issue 4, benchmark 2).

Peers POST every activity to an inbox: it is the hub's busiest write. A Flask request opens a
session, matches the URL map, runs every blueprint's before and after hooks and builds a Response
object; none of that matters to a signed JSON POST, and together it cost about as much CPU as
verifying and storing the activity. `FastInbox` sits between the proxy middleware (so the scheme
and Host a peer signed are already restored behind a trusted proxy) and Flask: a POST to
`/inbox`, `/actor/inbox` or `/actors/<handle>/inbox` is answered by `inboxes.post` within an app context
(the database session), exactly as the Flask views answer it; every other request, a POST to an
actor that does not exist here (Flask's 404), and any error (Flask's error handling) go to Flask,
but for a database that cannot be reached (PostgreSQL restarting): 503 with Retry-After, and the
peer sends the activity again later (hub.outage: peers may POST hundreds of times a second, so the
log gets one line every ten seconds, with how many were refused, not one per POST).
"""

import re

from flask import Flask, current_app, has_app_context
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length, get_input_stream

from hub.activitypub import inboxes
from hub.extensions import database_unavailable
from hub.outage import RETRY_AFTER, OutageLog
from hub.services import documents

# The three inbox routes of hub/activitypub/inboxes.py (`[^/]+`: Werkzeug's default converter).
INBOX_PATH = re.compile(r"/(?:inbox|actor/inbox|actors/([^/]+)/inbox)")
_NOT_HEADERS = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})  # as Werkzeug's EnvironHeaders


class FastInbox:
    """WSGI middleware answering POSTs to the inboxes; everything else goes on to `wsgi_app`."""

    def __init__(self, app: Flask, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self.outage = OutageLog("inbox POSTs")

    def __call__(self, environ, start_response):
        route = _inbox_route(environ)
        if route is None:
            return self.wsgi_app(environ, start_response)
        path, handle = route
        pushed = None
        if not has_app_context() or current_app._get_current_object() is not self.app:
            pushed = self.app.app_context()  # as a Flask request does: reuse the app's own if pushed
            pushed.push()
        error = None
        try:
            answer = self._answer(environ, path, handle)
        except Exception as exc:
            if not database_unavailable(exc):
                error = exc
                return self._flask_error(environ, start_response, exc)
            self.outage.refused(exc)
            answer = inboxes.answer(503, "the database cannot be reached; send it again later",
                                    retry_after=RETRY_AFTER)
        finally:
            if pushed is not None:
                pushed.pop(error)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer
        start_response(inboxes.status_line(status), headers)
        return [body]

    def _answer(self, environ, path: str, handle: str | None) -> inboxes.Answer | None:
        """The inbox's answer, or None when Flask should answer (an unknown actor: its 404 page)."""
        if handle is not None and documents.find_actor(handle) is None:
            return None
        try:
            stream = get_input_stream(environ, max_content_length=self.app.config["MAX_CONTENT_LENGTH"])
        except RequestEntityTooLarge:
            return inboxes.answer(413)
        return inboxes.post(path=path, query=environ.get("QUERY_STRING", ""), headers=_headers(environ),
                            content_length=get_content_length(environ), stream=stream, recipient=handle)

    def _flask_error(self, environ, start_response, exc: Exception):
        """An unexpected error answered by Flask's own handling (logged, 500 page, or re-raised in tests)."""
        with self.app.request_context(environ):
            response = self.app.handle_exception(exc)
        return response(environ, start_response)


def _inbox_route(environ) -> tuple[str, str | None] | None:
    """(path, actor handle or None) of a POST to an inbox, else None."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    try:  # the path as Werkzeug decodes it (WSGI gives UTF-8 bytes as latin-1 text)
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return None
    match = INBOX_PATH.fullmatch(path)
    return None if match is None else (path, match.group(1))


def _headers(environ) -> dict[str, str]:
    """The request's headers with lower-case names, as Werkzeug reads them from the environ."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
               if key.startswith("HTTP_") and key not in _NOT_HEADERS}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    return headers
