"""Inboxes (per actor and shared): read at most 1 MB, verify, store once, answer 202.

POSTs are answered by `post`, from two places: hub.activitypub.fast_inbox, in front of Flask's
request machinery (how gunicorn and the test client reach them), and the Flask views below (the
fallback, e.g. for an unknown actor's inbox). Both give the same answers. For a database that
cannot be reached both answer 503 with Retry-After: the fast path itself (it looks the actor up
first, so the views are not reached then), the views through hub.outage.
"""

import json

from flask import Response, abort, request
from werkzeug.http import HTTP_STATUS_CODES

from hub.activitypub import bp
from hub.negotiation import AS_CONTENT_TYPE
from hub.services import documents, inbox

Answer = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body
VARY = "Accept, Cookie"  # as every Flask answer of the hub (Flask-Login reads the session cookie)


def post(*, path: str, query: str, headers: dict, content_length: int | None, stream,
         recipient: str | None) -> Answer:
    """Read one POSTed activity from `stream` (at most 1 MB), verify and store it; the answer."""
    if content_length is not None and content_length > inbox.MAX_BODY:
        return answer(413)
    body = stream.read(inbox.MAX_BODY + 1)
    if len(body) > inbox.MAX_BODY:
        return answer(413)
    result = inbox.receive(method="POST", path=path, query=query, headers=headers, body=body,
                           recipient=recipient)
    return answer(result.status, result.reason, result.retry_after)


def answer(status: int, reason: str = "", retry_after: int | None = None) -> Answer:
    """An inbox answer: `{}` (the usual 202) or `{"status", "reason"}`, as ActivityStreams JSON."""
    body = b"{}"
    if reason:
        body = json.dumps({"status": status, "reason": reason}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    headers = [("Content-Type", AS_CONTENT_TYPE), ("Content-Length", str(len(body))), ("Vary", VARY)]
    if retry_after:
        headers.append(("Retry-After", str(retry_after)))
    return status, headers, body


def status_line(status: int) -> str:
    """'202 ACCEPTED': the WSGI status line, spelt as Werkzeug's responses spell it."""
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"


def _view(recipient: str | None) -> Response:
    status, headers, body = post(path=request.path, query=request.query_string.decode("latin-1"),
                                 headers=dict(request.headers), content_length=request.content_length,
                                 stream=request.stream, recipient=recipient)
    return Response(body, status=status, headers=headers)


@bp.post("/inbox")
def shared_inbox():
    """The shared inbox."""
    return _view(None)


@bp.post("/actor/inbox")
def instance_inbox():
    """The instance actor's inbox (Flags and follows of the instance arrive here)."""
    return _view(None)


@bp.post("/actors/<handle>/inbox")
def actor_inbox(handle: str):
    """A local actor's own inbox."""
    if documents.find_actor(handle) is None:
        abort(404)
    return _view(handle)


@bp.get("/inbox")
@bp.get("/actors/<handle>/inbox")
def inbox_get(handle: str | None = None):
    """Inboxes are not readable."""
    return Response(status=405, headers={"Allow": "POST"})
