"""Inboxes (per actor and shared): read at most 1 MB, verify, store once, answer 202."""

from flask import Response, abort, request

from hub.activitypub import bp
from hub.negotiation import AS_CONTENT_TYPE, activity_response
from hub.services import documents, inbox

NO_REASON_HEADERS = (("Vary", "Accept"),)


def _receive(handle: str | None) -> Response:
    if request.content_length is not None and request.content_length > inbox.MAX_BODY:
        return _status(413)
    body = request.stream.read(inbox.MAX_BODY + 1)
    if len(body) > inbox.MAX_BODY:
        return _status(413)
    result = inbox.receive(method=request.method, path=request.path,
                           query=request.query_string.decode("latin-1"), headers=dict(request.headers),
                           body=body, recipient=handle)
    response = _status(result.status, result.reason)
    if result.retry_after:
        response.headers["Retry-After"] = str(result.retry_after)
    return response


def _status(status: int, reason: str = "") -> Response:
    if not reason:  # the usual 202: what activity_response({}) answers, built directly
        return Response(b"{}", status=status, content_type=AS_CONTENT_TYPE, headers=NO_REASON_HEADERS)
    return activity_response({"status": status, "reason": reason}, status, cache_seconds=None)


@bp.post("/inbox")
def shared_inbox():
    """The shared inbox."""
    return _receive(None)


@bp.post("/actor/inbox")
def instance_inbox():
    """The instance actor's inbox (Flags and follows of the instance arrive here)."""
    return _receive(None)


@bp.post("/actors/<handle>/inbox")
def actor_inbox(handle: str):
    """A local actor's own inbox."""
    if documents.find_actor(handle) is None:
        abort(404)
    return _receive(handle)


@bp.get("/inbox")
@bp.get("/actors/<handle>/inbox")
def inbox_get(handle: str | None = None):
    """Inboxes are not readable."""
    return Response(status=405, headers={"Allow": "POST"})
