"""Received activities: verified and stored by `receive` (the inbox endpoints), processed later
by `process_due` (the worker): each item in its own SAVEPOINT, committed together in batches.

receive: JSON within limits (400), a draft-cavage signature verified with the signer's key
(401; RFC 9421 too), the activity's actor equal to the key's owner (401), stored once by
activity id (a replay answers 202 and changes nothing). The look-ups on the way are cached a few
seconds per process (inbox_cache) and the rows of concurrent requests are committed together
(inbox_writer).
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update

from federation import jsonld, signatures
from federation.errors import MalformedDocument, SignatureError
from hub import convert
from hub.extensions import database_unavailable, db
from hub.models import Actor, InboxItem
from hub.models.activity import DONE, FAILED, QUEUED
from hub.models.base import utcnow
from hub.services import inbox_cache, inbox_content, inbox_follows, inbox_writer, remote
from hub.services.inbox_common import Ignored, Rejected

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000
MAX_QUEUED_PER_DOMAIN = 2000  # waiting items from one server before it is asked to slow down (429)
FLOOD_RETRY_AFTER = 120
MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 60
LOCK_SECONDS = 300
BATCH_COMMIT_SECONDS = 0.25  # processed items are committed together, at least this often
JSON_TYPES = ("application/activity+json", "application/ld+json", "application/json")

HANDLERS = {
    "Follow": inbox_follows.on_follow,
    "Accept": inbox_follows.on_accept,
    "Reject": inbox_follows.on_reject,
    "Block": inbox_follows.on_block,
    "Create": inbox_content.on_create,
    "Update": inbox_content.on_update,
    "Delete": inbox_content.on_delete,
    "Announce": inbox_content.on_announce,
    "Like": inbox_content.on_like,
    "Flag": inbox_content.on_flag,
    "Undo": None,  # dispatched on the undone activity's type, below
}
EARLY_CHECKS = {"Create": inbox_content.ignore_if_unconcerned}
UNDO_HANDLERS = {
    "Follow": inbox_follows.undo_follow,
    "Block": inbox_follows.undo_block,
    "Like": inbox_content.undo_like,
    "Announce": inbox_content.undo_announce,
}


@dataclass
class Received:
    """The answer to an inbox POST."""

    status: int
    reason: str = ""
    retry_after: int | None = None


def _activity_fields(activity: dict) -> tuple[str, str, str, str]:
    """(id, type, actor id, actor's host) of a well-formed activity; MalformedDocument otherwise."""
    activity_id, kind = activity.get("id"), activity.get("type")
    actor = convert.id_of(activity.get("actor"))
    if isinstance(kind, list) and len(kind) == 1:
        kind = kind[0]
    if not isinstance(activity_id, str) or not activity_id.startswith(("http://", "https://")) \
            or len(activity_id) > 2048:
        raise MalformedDocument("the activity needs an http(s) id")
    if not isinstance(kind, str) or not kind or len(kind) > 32:
        raise MalformedDocument("the activity needs a type")
    if not actor or not actor.startswith(("http://", "https://")) or len(actor) > 2048:
        raise MalformedDocument("the activity needs an actor")
    host = convert.host_of(actor)
    if convert.host_of(activity_id) != host:
        raise MalformedDocument("the activity's id is not on its actor's server")
    return activity_id, kind, actor, host


def _json_content_type(headers: dict) -> bool:
    value = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    return value in JSON_TYPES


def _verified_signer(method, path, query, headers, body, actor_uri: str) -> str | None:
    """The id of the actor whose key signed the request, or None when a key cached for this actor
    verified it (no database work); SignatureError when no key verifies it.

    A key that verified a request from this actor within the last seconds is tried first; when
    it does not verify, the key is looked up as before (remote.signer_of: database, then its origin once).
    """
    params = signatures.signature_params(headers)
    key_id = params["keyId"]
    keys = inbox_cache.cache()
    cached = keys.key(key_id)
    if cached is not None and cached[0] == actor_uri:
        try:
            signatures.verify_request(method, path, query, headers, body, cached[1], params=params)
            return None
        except SignatureError:
            keys.forget_key(key_id)
    actor = remote.signer_of(method, path, query, headers, body, params)
    keys.remember_key(key_id, actor.uri, actor.public_key_pem)
    return actor.uri


def _stored_already(activity_id: str) -> bool:
    return db.session.scalar(select(InboxItem.id).where(InboxItem.activity_uri == activity_id)) is not None


def receive(*, method: str, path: str, query: str, headers: dict, body: bytes,
            recipient: str | None = None) -> Received:
    """Check and store one POSTed activity; the answer's status is what the peer gets."""
    headers = signatures.lower_headers(headers)
    if len(body) > MAX_BODY:
        return Received(413, "body too large")
    if "signature-input" in headers:
        return Received(401, "RFC 9421 signatures are not supported; sign with draft-cavage")
    if not _json_content_type(headers):
        return Received(415, "expected application/activity+json")
    try:
        activity = jsonld.parse_json_limited(body, max_bytes=MAX_BODY)
        activity_id, kind, actor_uri, host = _activity_fields(activity)
    except MalformedDocument as exc:
        return Received(400, str(exc))
    state = inbox_cache.cache()
    if state.domain_blocked(host):
        return Received(403, "this server is blocked here")
    limit = current_app.config.get("HUB_INBOX_MAX_QUEUED_PER_DOMAIN", MAX_QUEUED_PER_DOMAIN)
    if state.flooding(host, limit):
        return Received(429, "too many activities waiting from this server", FLOOD_RETRY_AFTER)
    if kind == "Delete" and convert.id_of(activity.get("object")) == actor_uri \
            and remote.known_actor(actor_uri) is None:
        return Received(202, "unknown actor deleted")  # nothing to do, and its key is gone
    try:
        signer = _verified_signer(method, path, query, headers, body, actor_uri)
    except SignatureError as exc:
        db.session.commit()  # keep what was learnt about keys
        if _stored_already(activity_id):
            return Received(202, "already received")  # a late replay of what we have
        return Received(401, str(exc))
    if signer is not None:
        db.session.commit()  # keep an actor or key fetched while verifying
        if signer != actor_uri:
            return Received(401, "the activity's actor is not the signer")
    now = utcnow()  # the payload is the body as received: the strict parser just accepted it
    inbox_writer.store({"activity_uri": activity_id, "type": kind, "actor_uri": actor_uri,
                        "payload": body.decode("utf-8-sig"), "state": QUEUED,
                        "attempts": 0, "next_attempt_at": now, "received_at": now, "error": ""})
    state.stored(host)
    return Received(202)


# --- processing --------------------------------------------------------------------------------

def _claim_statement():
    """UPDATE … RETURNING id of the due items, built once (building it cost more than running it)."""
    now = bindparam("now", type_=InboxItem.next_attempt_at.type)
    due = (select(InboxItem.id)
           .where(InboxItem.state == QUEUED, InboxItem.next_attempt_at <= now,
                  (InboxItem.locked_until.is_(None)) | (InboxItem.locked_until < now))
           .order_by(InboxItem.id).limit(bindparam("limit")).with_for_update(skip_locked=True, of=InboxItem))
    table = InboxItem.__table__
    return (update(table).where(table.c.id.in_(due.scalar_subquery()))
            .values(locked_until=bindparam("until", type_=table.c.locked_until.type)).returning(table.c.id))


_CLAIM = _claim_statement()


def claim_due(limit: int) -> list[int]:
    """Lock up to `limit` due inbox items (SKIP LOCKED on PostgreSQL) and commit; their ids."""
    now = utcnow()
    parameters = {"now": now, "limit": limit, "until": now + timedelta(seconds=LOCK_SECONDS)}
    ids = sorted(db.session.scalars(_CLAIM, parameters))
    db.session.commit()
    return ids


def dispatch(activity: dict, actor: Actor) -> None:
    """Run the handler for one activity (raises Rejected, Ignored or remote.FetchError)."""
    kind = activity.get("type")
    if isinstance(kind, list):
        kind = kind[0] if len(kind) == 1 else None
    if kind == "Undo":
        inner = activity.get("object")
        inner_kind = inner.get("type") if isinstance(inner, dict) else inbox_follows.undone_type(inner, actor)
        handler = UNDO_HANDLERS.get(inner_kind)
        if handler is None:
            raise Ignored(f"Undo of {inner_kind!r} is not handled")
        handler(activity, actor)
        return
    handler = HANDLERS.get(kind)
    if handler is None:
        raise Ignored(f"{kind!r} is not handled")
    handler(activity, actor)


def _ignore_early(activity: dict) -> None:
    """Raise Ignored for an activity that can be seen to concern no one here from its own content
    (most of what a hub receives), before a SAVEPOINT is opened for it."""
    kind = activity.get("type")
    check = EARLY_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is not None:
        check(activity)


def _run_handler(payload: str, actor_uri: str, actors: dict) -> tuple[str, str]:
    """Run one activity's handler inside a SAVEPOINT; (new state, error). A failure undoes only
    this activity's changes."""
    try:
        activity = json.loads(payload)
        known = actors.get(actor_uri)
        if known is not None and not known.is_local:
            _ignore_early(activity)
        with db.session.begin_nested():
            if actor_uri not in actors:
                actors[actor_uri] = remote.known_actor(actor_uri)
            actor = actors[actor_uri]
            if actor is None or actor.is_local:
                raise Rejected("unknown or local actor")
            dispatch(activity, actor)
    except Ignored as exc:
        return DONE, f"ignored: {exc}"
    except Rejected as exc:
        return FAILED, f"rejected: {exc}"
    except remote.FetchError as exc:
        return QUEUED, f"retry: {exc}"
    except Exception as exc:  # a bug must not stop the worker: keep the item for inspection
        if database_unavailable(exc):
            raise  # no item of the batch can be handled: the worker waits for the database
        log.exception("inbox item failed")
        return QUEUED, f"error: {type(exc).__name__}: {exc}"
    return DONE, ""


def _outcome(item_id: int, attempts: int, next_attempt_at, state: str, error: str) -> dict:
    attempts += 1
    now = utcnow()
    if state == QUEUED:
        if attempts >= MAX_ATTEMPTS:
            state = FAILED
        else:
            next_attempt_at = now + timedelta(seconds=RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    return {"id": item_id, "attempts": attempts, "locked_until": None, "error": error[:2000], "state": state,
            "next_attempt_at": next_attempt_at, "processed_at": None if state == QUEUED else now}


def _record(outcomes: list[dict]) -> None:
    if outcomes:
        db.session.execute(update(InboxItem), outcomes)
    db.session.commit()


def process_items(item_ids: list[int]) -> dict[int, str]:
    """Process claimed items, each in a SAVEPOINT, committing together every BATCH_COMMIT_SECONDS;
    returns each item's new state."""
    rows = db.session.execute(select(InboxItem.id, InboxItem.state, InboxItem.actor_uri, InboxItem.payload,
                                     InboxItem.attempts, InboxItem.next_attempt_at)
                              .where(InboxItem.id.in_(item_ids)).order_by(InboxItem.id)).all()
    states = {item_id: DONE for item_id in item_ids}
    outcomes, actors, started = [], _known_actors(rows), time.monotonic()
    for position, (item_id, state, actor_uri, payload, attempts, next_attempt_at) in enumerate(rows):
        if state != QUEUED:
            states[item_id] = state
            continue
        outcome = _outcome(item_id, attempts, next_attempt_at, *_run_handler(payload, actor_uri, actors))
        outcomes.append(outcome)
        states[item_id] = outcome["state"]
        if time.monotonic() - started > BATCH_COMMIT_SECONDS:
            _record(outcomes)
            outcomes, actors, started = [], _known_actors(rows[position + 1:]), time.monotonic()
    _record(outcomes)
    return states


def _known_actors(rows) -> dict[str, Actor]:
    """The known actors of these items, in one query (each item would otherwise look its actor up
    inside its own SAVEPOINT: two more round trips)."""
    uris = {row.actor_uri for row in rows if row.state == QUEUED}
    if not uris:
        return {}
    return {actor.uri: actor for actor in db.session.scalars(select(Actor).where(Actor.uri.in_(uris)))}


def process_item(item_id: int) -> str:
    """Process one stored activity in its own transaction; returns its new state."""
    return process_items([item_id])[item_id]


def process_due(limit: int = 200) -> int:
    """Claim and process up to `limit` due inbox items; returns how many were processed."""
    ids = claim_due(limit)
    if ids:
        process_items(ids)
        inbox_cache.cache().forget_waiting()
    return len(ids)
