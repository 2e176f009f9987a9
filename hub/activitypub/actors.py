"""Actor documents, their collections, notes and activities, at exactly their ids.

The profile page `/@handle` and permalink `/@handle/<id>` are HTML views of the web blueprint;
for an ActivityStreams Accept header the hook below answers them with the actor or the Note
before the HTML view runs, so both blueprints stay independent.
"""

import re

from flask import abort, redirect, request

from hub.activitypub import bp
from hub.negotiation import activity_response, vary, wants_activity_json
from hub.services import documents, orgs, remote

PROFILE_PATH = re.compile(r"^/@([A-Za-z0-9_]{1,30})$")
POST_PATH = re.compile(r"^/@([A-Za-z0-9_]{1,30})/([0-9]{1,18})$")


def _answer(status: int, document: dict | None):
    if document is None:
        return activity_response({"error": "not found"} if status == 404 else {}, status)
    return activity_response(document, status)


def _actor_or_404(handle: str):
    actor = documents.find_actor(handle)
    if actor is None:
        abort(404)
    return actor


@bp.before_app_request
def activity_json_for_html_urls():
    """Answer /@handle and /@handle/<id> with AP JSON when the client asks for it."""
    if request.method not in ("GET", "HEAD") or not wants_activity_json():
        return None
    if match := PROFILE_PATH.match(request.path):
        actor = documents.find_actor(match.group(1))
        return _answer(404, None) if actor is None else activity_response(documents.actor_document(actor))
    if match := POST_PATH.match(request.path):
        return _post(match.group(1), int(match.group(2)))
    return None


def _post(handle: str, post_id: int):
    """A public or unlisted Note for anyone; a followers-only one for a follower's signed GET."""
    status, note = documents.post_document(handle, post_id)
    signed = status == 404 and "Signature" in request.headers
    post = documents.followers_only_post(handle, post_id) if signed else None
    if post is not None:  # the signature is checked only for such a post
        reader = remote.reader_of(request.method, request.path, request.query_string.decode("latin-1"),
                                  dict(request.headers))
        note = documents.note_for_reader(post, reader)
        if note is not None:  # for this reader only: kept by no shared cache
            response = activity_response(note, cache_seconds=None)
            response.headers["Cache-Control"] = "private"
            response.vary.add("Signature")
            return response
    return _answer(status, note)


@bp.after_app_request
def vary_on_accept(response):
    """HTML at AP URLs depends on Accept too, so caches keep the two apart."""
    if PROFILE_PATH.match(request.path) or POST_PATH.match(request.path):
        vary(response)
    return response


@bp.get("/actors/<handle>")
def actor(handle: str):
    """The Organization or Group document; browsers go to the profile page."""
    found = _actor_or_404(handle)
    if not wants_activity_json() and "text/html" in request.headers.get("Accept", ""):
        return vary(redirect(found.url or found.uri, 302))
    return activity_response(documents.actor_document(found))


@bp.get("/actor")
def instance_actor():
    """The instance's Application actor (FEP-2677); it signs our fetches."""
    return activity_response(documents.actor_document(orgs.instance_actor()))


@bp.get("/actors/<handle>/outbox")
def outbox(handle: str):
    """Paged OrderedCollection of Create and Announce, newest first."""
    return _answer(*documents.outbox_document(_actor_or_404(handle), request.args.get("page"),
                                              request.args.get("before")))


@bp.get("/actors/<handle>/followers")
def followers(handle: str):
    """Followers: hidden unless the organisation shows its follows."""
    return _answer(*documents.followers_document(_actor_or_404(handle), request.args.get("page")))


@bp.get("/actors/<handle>/following")
def following(handle: str):
    """Following: hidden unless the organisation shows its follows."""
    return _answer(*documents.following_document(_actor_or_404(handle), request.args.get("page")))


@bp.get("/actors/<handle>/featured")
def featured(handle: str):
    """Pinned posts (none yet)."""
    return activity_response(documents.featured_document(_actor_or_404(handle)))


@bp.get("/actors/<handle>/boosts/<int:boost_id>")
def boost(handle: str, boost_id: int):
    """An Announce at its stable id."""
    return _answer(*documents.boost_document(handle, boost_id))


@bp.get("/@<handle>/<int:post_id>/activity")
def create_activity(handle: str, post_id: int):
    """The Create activity of a public post."""
    return _answer(*documents.create_document(handle, post_id))
