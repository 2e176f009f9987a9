"""Inbox handlers for relations: Follow, Accept, Reject, Undo Follow, Block, Undo Block."""

from sqlalchemy import delete, or_, select

from hub import convert
from hub.extensions import db
from hub.models import Actor, Block, Boost, Follow, Like
from hub.models.base import utcnow
from hub.services import delivery, notifications
from hub.services.inbox_common import (
    Ignored,
    Rejected,
    blocked,
    local_actor,
    object_id,
    object_of,
    undone_row,
)


def send_accept(follow: Follow) -> None:
    """Queue the Accept of an inbound Follow, signed by our actor, to the follower."""
    db.session.flush()
    delivery.enqueue(convert.accept(follow), follow.target, [follow.follower.inbox])


def send_reject(follow: Follow) -> None:
    """Queue the Reject of an inbound Follow (also removes an existing follower)."""
    db.session.flush()
    delivery.enqueue(convert.reject(follow), follow.target, [follow.follower.inbox])


def on_follow(activity: dict, actor: Actor) -> None:
    """A remote actor follows one of ours: Accept at once, or hold for approval."""
    target = local_actor(object_id(activity))
    if target is None:
        raise Ignored("the Follow is not of one of our organisations")
    follow = db.session.scalar(select(Follow).filter_by(follower_id=actor.id, target_id=target.id))
    if follow is None:
        follow = Follow(follower_id=actor.id, target_id=target.id, state=Follow.PENDING)
        db.session.add(follow)
    follow.uri = activity["id"]
    follow.follower, follow.target = actor, target
    if blocked(target, actor):
        follow.state = Follow.REJECTED
        send_reject(follow)
        return
    if follow.state == Follow.ACCEPTED:
        send_accept(follow)  # the follower lost our Accept: send it again
        return
    if target.manually_approves_followers:
        follow.state = Follow.PENDING
        db.session.flush()
        notifications.notify(target, notifications.FOLLOW_REQUEST, actor)
        return
    follow.state, follow.accepted_at = Follow.ACCEPTED, utcnow()
    send_accept(follow)
    notifications.notify(target, notifications.FOLLOW, actor)


def _our_follow(activity: dict, actor: Actor) -> Follow | None:
    """The outbound Follow an Accept or Reject answers: by its id, else by the embedded pair."""
    follow_id = object_id(activity)
    follow = db.session.scalar(select(Follow).where(Follow.uri == follow_id)) if follow_id else None
    embedded = object_of(activity)
    if follow is None and isinstance(embedded, dict):
        ours = local_actor(convert.id_of(embedded.get("actor")))
        if ours is not None and convert.id_of(embedded.get("object")) == actor.uri:
            follow = db.session.scalar(select(Follow).filter_by(follower_id=ours.id, target_id=actor.id))
    if follow is None or not follow.follower.is_local:
        return None
    return follow


def on_accept(activity: dict, actor: Actor) -> None:
    """The target accepted one of our follows: only the target itself may."""
    follow = _our_follow(activity, actor)
    if follow is None:
        raise Ignored("the Accept answers no follow of ours")
    if follow.target_id != actor.id:
        raise Rejected("an Accept from someone other than the followed account")
    if follow.state != Follow.ACCEPTED:
        follow.state, follow.accepted_at = Follow.ACCEPTED, utcnow()
        notifications.notify(follow.follower, notifications.FOLLOW_ACCEPTED, actor)


def on_reject(activity: dict, actor: Actor) -> None:
    """The target refused (or removed) one of our follows."""
    follow = _our_follow(activity, actor)
    if follow is None:
        raise Ignored("the Reject answers no follow of ours")
    if follow.target_id != actor.id:
        raise Rejected("a Reject from someone other than the followed account")
    follow.state = Follow.REJECTED
    notifications.notify(follow.follower, notifications.FOLLOW_REJECTED, actor)


def undone_type(reference, actor: Actor) -> str | None:
    """The type of an undone activity given only by its id (looked up among what we stored)."""
    uri = convert.id_of(reference)
    if not uri:
        return None
    for model, kind in ((Follow, "Follow"), (Like, "Like"), (Boost, "Announce"), (Block, "Block")):
        if db.session.scalar(select(model.id).where(model.uri == uri)) is not None:
            return kind
    return None


def undo_follow(activity: dict, actor: Actor) -> None:
    """A remote actor stops following one of ours (only the follower may undo it)."""
    inner = object_of(activity)
    inner_id = convert.id_of(inner)
    follow = db.session.scalar(select(Follow).where(Follow.uri == inner_id)) if inner_id else None
    if follow is None and isinstance(inner, dict):
        target = local_actor(convert.id_of(inner.get("object")))
        if target is not None and convert.id_of(inner.get("actor")) == actor.uri:
            follow = db.session.scalar(select(Follow).filter_by(follower_id=actor.id, target_id=target.id))
    if follow is None:
        raise Ignored("no such follow")
    if follow.follower_id != actor.id:
        raise Rejected("an Undo of someone else's Follow")
    db.session.delete(follow)


def _drop_follows_between(a: Actor, b: Actor) -> None:
    db.session.execute(delete(Follow).where(or_(
        (Follow.follower_id == a.id) & (Follow.target_id == b.id),
        (Follow.follower_id == b.id) & (Follow.target_id == a.id))))


def on_block(activity: dict, actor: Actor) -> None:
    """A remote actor blocks one of ours: follows both ways end, nothing more is sent to it."""
    target = local_actor(object_id(activity))
    if target is None:
        raise Ignored("the Block is not of one of our organisations")
    existing = db.session.scalar(select(Block).filter_by(actor_id=actor.id, target_id=target.id))
    if existing is None:
        db.session.add(Block(actor_id=actor.id, target_id=target.id, uri=activity["id"]))
    _drop_follows_between(actor, target)


def undo_block(activity: dict, actor: Actor) -> None:
    """A remote actor lifts its block (only the blocker may)."""
    block = undone_row(Block, activity, actor, target_column="target_id", find_target=local_actor)
    db.session.delete(block)
