"""Notifications for an organisation's staff: followers, follow requests, replies, mentions,
boosts and likes."""

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from hub.extensions import db
from hub.models import Actor, Notification, Post
from hub.models.base import utcnow
from hub.services import paging

FOLLOW = "follow"
FOLLOW_REQUEST = "follow_request"
REPLY = "reply"
MENTION = "mention"
BOOST = "boost"
LIKE = "like"
FOLLOW_ACCEPTED = "follow_accepted"
FOLLOW_REJECTED = "follow_rejected"
KINDS = (FOLLOW, FOLLOW_REQUEST, REPLY, MENTION, BOOST, LIKE, FOLLOW_ACCEPTED, FOLLOW_REJECTED)


def notify(org: Actor, kind: str, from_actor: Actor | None = None,
           post: Post | None = None) -> Notification | None:
    """Add a notification for a local organisation to the current transaction (no duplicates)."""
    if org is None or not org.is_local or kind not in KINDS:
        return None
    existing = db.session.scalar(select(Notification).filter_by(
        org_id=org.id, kind=kind, from_actor_id=from_actor.id if from_actor else None,
        post_id=post.id if post else None, read_at=None))
    if existing is not None:
        return existing
    item = Notification(org_id=org.id, kind=kind, from_actor_id=from_actor.id if from_actor else None,
                        post_id=post.id if post else None)
    db.session.add(item)
    return item


def for_org(org: Actor, *, limit: int = 50, before_id: int | None = None) -> paging.Page:
    """A page of an organisation's notifications, newest first, with their accounts and posts read
    in the same query."""
    query = (select(Notification).where(Notification.org_id == org.id)
             .options(joinedload(Notification.from_actor), joinedload(Notification.post)))
    return paging.newest_first(query, Notification.id, before_id, limit)


def unread_count(org: Actor) -> int:
    """How many notifications staff have not seen yet."""
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.org_id == org.id, Notification.read_at.is_(None))) or 0


def mark_all_read(org: Actor) -> None:
    """Mark every notification of the organisation read."""
    unread = (Notification.org_id == org.id, Notification.read_at.is_(None))
    db.session.execute(update(Notification).where(*unread).values(read_at=utcnow())
                       .execution_options(synchronize_session=False))
    db.session.commit()


def forget_actor(actor: Actor) -> None:
    """Remove notifications caused by a remote actor (deleted or blocked)."""
    db.session.query(Notification).filter(Notification.from_actor_id == actor.id).delete(
        synchronize_session=False)
