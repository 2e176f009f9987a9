"""Received activities: verified and stored by `receive` (the inbox endpoints), processed later
by `process_due` (the worker), one stored InboxItem at a time, each in its own transaction.

receive: JSON within limits (400), a draft-cavage signature verified with the signer's key
(401; RFC 9421 too), the activity's actor equal to the key's owner (401), stored once by
activity id (a replay answers 202 and changes nothing).
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from federation import jsonld, signatures
from federation.errors import MalformedDocument, SignatureError
from hub import convert
from hub.extensions import db
from hub.models import Actor, DomainState, InboxItem
from hub.models.activity import DONE, FAILED, QUEUED
from hub.models.base import utcnow
from hub.services import inbox_content, inbox_follows, remote
from hub.services.inbox_common import Ignored, Rejected

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000
MAX_QUEUED_PER_DOMAIN = 2000  # waiting items from one server before it is asked to slow down (429)
FLOOD_RETRY_AFTER = 120
MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 60
LOCK_SECONDS = 300
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


def _activity_fields(activity: dict) -> tuple[str, str, str]:
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
    if convert.host_of(activity_id) != convert.host_of(actor):
        raise MalformedDocument("the activity's id is not on its actor's server")
    return activity_id, kind, actor


def _json_content_type(headers: dict) -> bool:
    value = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    return value in JSON_TYPES


def _verified_signer(method, path, query, headers, body) -> Actor:
    """The actor whose key signed the request; SignatureError when no key verifies it."""
    key_id = signatures.key_id_of(headers)
    actor = remote.actor_for_key(key_id)
    if actor is None or not actor.public_key_pem:
        raise SignatureError("the signing key could not be resolved")
    old_pem = actor.public_key_pem
    try:
        signatures.verify_request(method, path, query, headers, body, old_pem)
        return actor
    except SignatureError:
        refreshed = remote.actor_for_key(key_id, refetch=True)
        if refreshed is None or refreshed.public_key_pem == old_pem:
            raise
    signatures.verify_request(method, path, query, headers, body, refreshed.public_key_pem)
    return refreshed


def _flooding(actor_uri: str) -> bool:
    """True when one server already has too many activities waiting to be processed."""
    limit = current_app.config.get("HUB_INBOX_MAX_QUEUED_PER_DOMAIN", MAX_QUEUED_PER_DOMAIN)
    parts = urlsplit(actor_uri)
    prefix = f"{parts.scheme}://{parts.netloc}/".replace("%", r"\%").replace("_", r"\_")
    waiting = (select(InboxItem.id).where(InboxItem.state == QUEUED,
                                          InboxItem.actor_uri.like(prefix + "%", escape="\\"))
               .limit(limit).subquery())
    return (db.session.scalar(select(func.count()).select_from(waiting)) or 0) >= limit


def _domain_blocked(actor_uri: str) -> bool:
    host = convert.host_of(actor_uri)
    return db.session.scalar(select(DomainState.blocked).where(DomainState.domain == host)) is True


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
        activity_id, kind, actor_uri = _activity_fields(activity)
    except MalformedDocument as exc:
        return Received(400, str(exc))
    if _domain_blocked(actor_uri):
        return Received(403, "this server is blocked here")
    if _flooding(actor_uri):
        return Received(429, "too many activities waiting from this server", FLOOD_RETRY_AFTER)
    if db.session.scalar(select(InboxItem.id).where(InboxItem.activity_uri == activity_id)) is not None:
        return Received(202, "already received")
    if kind == "Delete" and convert.id_of(activity.get("object")) == actor_uri \
            and remote.known_actor(actor_uri) is None:
        return Received(202, "unknown actor deleted")  # nothing to do, and its key is gone
    try:
        signer = _verified_signer(method, path, query, headers, body)
    except SignatureError as exc:
        db.session.commit()  # keep what was learnt about keys
        return Received(401, str(exc))
    if signer.uri != actor_uri:
        db.session.commit()
        return Received(401, "the activity's actor is not the signer")
    item = InboxItem(activity_uri=activity_id, type=kind, actor_uri=actor_uri,
                     payload=json.dumps(activity, ensure_ascii=False), state=QUEUED)
    db.session.add(item)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return Received(202, "already received")
    return Received(202)


# --- processing --------------------------------------------------------------------------------

def claim_due(limit: int) -> list[int]:
    """Lock up to `limit` due inbox items (SKIP LOCKED on PostgreSQL) and commit; their ids."""
    now = utcnow()
    due = (select(InboxItem.id)
           .where(InboxItem.state == QUEUED, InboxItem.next_attempt_at <= now,
                  (InboxItem.locked_until.is_(None)) | (InboxItem.locked_until < now))
           .order_by(InboxItem.id).limit(limit).with_for_update(skip_locked=True, of=InboxItem))
    claim = (update(InboxItem).where(InboxItem.id.in_(due.scalar_subquery()))
             .values(locked_until=now + timedelta(seconds=LOCK_SECONDS))
             .returning(InboxItem.id).execution_options(synchronize_session=False))
    ids = sorted(db.session.scalars(claim))
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


def process_item(item_id: int) -> str:
    """Process one stored activity in its own transaction; returns its new state."""
    item = db.session.get(InboxItem, item_id)
    if item is None or item.state != QUEUED:
        return item.state if item else DONE
    error, state = "", DONE
    try:
        actor = remote.known_actor(item.actor_uri)
        if actor is None or actor.is_local:
            raise Rejected("unknown or local actor")
        dispatch(json.loads(item.payload), actor)
        db.session.flush()
    except Ignored as exc:
        db.session.rollback()
        error = f"ignored: {exc}"
    except Rejected as exc:
        db.session.rollback()
        error, state = f"rejected: {exc}", FAILED
    except remote.FetchError as exc:
        db.session.rollback()
        error, state = f"retry: {exc}", QUEUED
    except Exception as exc:  # a bug must not stop the worker: keep the item for inspection
        db.session.rollback()
        log.exception("inbox item %s failed", item_id)
        error, state = f"error: {type(exc).__name__}: {exc}", QUEUED
    item = db.session.get(InboxItem, item_id)
    item.attempts += 1
    item.locked_until = None
    item.error = error[:2000]
    if state == QUEUED:
        if item.attempts >= MAX_ATTEMPTS:
            state = FAILED
        else:
            item.next_attempt_at = utcnow() + timedelta(seconds=RETRY_BASE_SECONDS * 2 ** (item.attempts - 1))
    item.state = state
    if state != QUEUED:
        item.processed_at = utcnow()
    db.session.commit()
    return state


def process_due(limit: int = 200) -> int:
    """Claim and process up to `limit` due inbox items; returns how many were processed."""
    ids = claim_due(limit)
    for item_id in ids:
        process_item(item_id)
    return len(ids)
