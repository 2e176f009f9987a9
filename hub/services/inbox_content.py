"""Inbox handlers for content: Create (replies and mentions), Update (note or actor), Delete
(note or actor), Announce and Like of our posts and their Undo, Flag (reports)."""

import json

from sqlalchemy import delete, select, update

from hub import convert
from hub.extensions import db
from hub.models import Actor, Block, Boost, Follow, Like, Notification, Post, Report
from hub.models.base import utcnow
from hub.models.post import DELETED
from hub.services import delivery, notifications, remote
from hub.services.inbox_common import (
    Ignored,
    Rejected,
    local_actor,
    local_post,
    object_id,
    object_of,
    require_same_host,
    undone_row,
)

MAX_REPORT_OBJECTS = 100
NOT_OURS = "neither a reply to our posts nor a mention of our organisations"


# --- notes -------------------------------------------------------------------------------------

def _note_document(activity: dict, actor: Actor) -> dict:
    """The embedded note, or the note fetched from its own id when only referenced."""
    embedded = object_of(activity)
    if isinstance(embedded, str):
        require_same_host(embedded, actor, "note")
        return remote.fetch_document(embedded)
    if not isinstance(embedded, dict):
        raise Rejected("the object is not a note")
    return embedded


def _parse_note(document: dict, actor: Actor) -> convert.RemoteNote:
    try:
        note = convert.from_note(document, followers_url=actor.followers_url)
    except convert.NotANote as exc:
        raise Ignored(str(exc)) from exc
    require_same_host(note.uri, actor, "note")
    if note.attributed_to != actor.uri:
        raise Rejected("the note is attributed to someone other than the actor")
    return note


def _local_recipients(note: convert.RemoteNote) -> list[Actor]:
    seen, found = set(), []
    for uri in [*note.mentions, *note.to, *note.cc]:
        actor = local_actor(uri)
        if actor is not None and actor.id not in seen:
            seen.add(actor.id)
            found.append(actor)
    return found


def _points_here(document: dict) -> bool:
    """True when the note's reply target, recipients or tags name anything on this hub (a cheap
    test before sanitising: most notes a hub receives concern none of its organisations)."""
    here = delivery.local_host()
    tags = [tag.get("href") for tag in convert.as_list(document.get("tag")) if isinstance(tag, dict)]
    candidates = [convert.id_of(document.get("inReplyTo")), *convert.ids_of(document.get("to")),
                  *convert.ids_of(document.get("cc")), *tags]
    return any(isinstance(uri, str) and convert.host_of(uri) == here for uri in candidates)


def ignore_if_unconcerned(activity: dict) -> None:
    """Raise Ignored for a Create whose embedded note names nothing on this hub (no database work)."""
    _ignore_unless_here(object_of(activity))


def _ignore_unless_here(document) -> None:
    if isinstance(document, dict) and not _points_here(document):
        raise Ignored(NOT_OURS)


def on_create(activity: dict, actor: Actor) -> None:
    """Store a reply to one of our posts or a note mentioning one of our organisations."""
    document = _note_document(activity, actor)
    _ignore_unless_here(document)
    note = _parse_note(document, actor)
    parent = local_post(note.in_reply_to)
    mentioned = _local_recipients(note)
    if parent is None and not mentioned:
        raise Ignored(NOT_OURS)
    if remote.local_post_for(note.uri) is not None:
        raise Ignored("the note is known already")
    post = remote.store_note(note, actor)
    if parent is not None:
        notifications.notify(parent.actor, notifications.REPLY, actor, post)
    for org in mentioned:
        if parent is None or org.id != parent.actor_id:
            notifications.notify(org, notifications.MENTION, actor, post)


def on_update(activity: dict, actor: Actor) -> None:
    """Update of the actor itself, or of a note it wrote that we stored."""
    embedded = object_of(activity)
    kinds = convert.as_list(embedded.get("type")) if isinstance(embedded, dict) else []
    if any(k in convert.ACTOR_TYPES for k in kinds if isinstance(k, str)):
        if convert.id_of(embedded) != actor.uri:
            raise Rejected("an actor may only update itself")
        remote.store_actor(embedded)
        return
    target_id = object_id(activity)
    post = remote.local_post_for(target_id)
    if post is None:
        raise Ignored("an Update of something we do not store")
    if post.local or post.actor_id != actor.id:
        raise Rejected("an Update of someone else's note")
    note = _parse_note(_note_document(activity, actor), actor)
    if note.uri != post.uri:
        raise Rejected("the updated note changed its id")
    remote.store_note(note, actor)


def _forget_actor(actor: Actor) -> None:
    """An actor deleted itself: its relations, likes and boosts go, its notes become deleted."""
    now = utcnow()
    actor.gone = True
    db.session.execute(delete(Follow).where((Follow.follower_id == actor.id)
                                            | (Follow.target_id == actor.id)))
    db.session.execute(delete(Like).where(Like.actor_id == actor.id))
    db.session.execute(delete(Boost).where(Boost.actor_id == actor.id))
    db.session.execute(delete(Block).where(Block.actor_id == actor.id))
    db.session.execute(delete(Notification).where(Notification.from_actor_id == actor.id))
    db.session.execute(update(Post).where(Post.actor_id == actor.id, Post.local.is_(False))
                       .values(state=DELETED, deleted_at=now, content_html="", summary="")
                       .execution_options(synchronize_session=False))


def on_delete(activity: dict, actor: Actor) -> None:
    """Delete of the actor itself (object == actor), or of one of its notes."""
    target_id = object_id(activity)
    if not target_id:
        raise Rejected("a Delete without an object id")
    if target_id == actor.uri:
        _forget_actor(actor)
        return
    post = remote.local_post_for(target_id)
    if post is None:
        raise Ignored("a Delete of something we do not store")
    if post.local or post.actor_id != actor.id:
        raise Rejected("a Delete of someone else's note")
    post.state, post.deleted_at = DELETED, utcnow()
    post.content_html, post.summary = "", ""
    db.session.execute(delete(Notification).where(Notification.post_id == post.id))


# --- boosts and likes --------------------------------------------------------------------------

def on_announce(activity: dict, actor: Actor) -> None:
    """A boost of one of our posts (Mastodon's shape: the object is the Note's URI)."""
    embedded = object_of(activity)
    if isinstance(embedded, dict) and embedded.get("type") in ("Create", "Update", "Delete", "Like"):
        raise Ignored("a wrapped activity (FEP-1b12) about nothing we host")
    post = local_post(object_id(activity))
    if post is None or not post.is_visible_publicly:
        raise Ignored("a boost of something that is not one of our public posts")
    if db.session.scalar(select(Boost).filter_by(actor_id=actor.id, post_id=post.id)) is not None:
        raise Ignored("boosted already")
    db.session.add(Boost(uri=activity["id"], actor_id=actor.id, post_id=post.id))
    db.session.flush()
    notifications.notify(post.actor, notifications.BOOST, actor, post)


def on_like(activity: dict, actor: Actor) -> None:
    """A like of one of our posts."""
    post = local_post(object_id(activity))
    if post is None:
        raise Ignored("a like of something that is not one of our posts")
    if db.session.scalar(select(Like).filter_by(actor_id=actor.id, post_id=post.id)) is not None:
        raise Ignored("liked already")
    db.session.add(Like(uri=activity["id"], actor_id=actor.id, post_id=post.id))
    db.session.flush()
    notifications.notify(post.actor, notifications.LIKE, actor, post)


def _undone(model, activity: dict, actor: Actor):
    return undone_row(model, activity, actor, target_column="post_id", find_target=local_post)


def undo_like(activity: dict, actor: Actor) -> None:
    """Remove a like (only its author may)."""
    db.session.delete(_undone(Like, activity, actor))


def undo_announce(activity: dict, actor: Actor) -> None:
    """Remove a boost (only its author may)."""
    db.session.delete(_undone(Boost, activity, actor))


# --- reports -----------------------------------------------------------------------------------

def on_flag(activity: dict, actor: Actor) -> None:
    """A report from another server about our organisations or posts, for the moderation list."""
    objects = []
    for uri in convert.ids_of(activity.get("object"))[:MAX_REPORT_OBJECTS]:
        if local_actor(uri) is not None or remote.local_post_for(uri) is not None:
            objects.append(uri)
    if not objects:
        raise Ignored("the report names nothing on this hub")
    if db.session.scalar(select(Report.id).where(Report.uri == activity["id"])) is not None:
        raise Ignored("reported already")
    db.session.add(Report(uri=activity["id"], reporter_id=actor.id,
                          content=convert.plain_text(activity.get("content"), 5000),
                          object_uris=json.dumps(objects)))
