"""What the inbox handlers share: the refusal exception and lookups of local things by id."""

from sqlalchemy import select

from hub import convert
from hub.extensions import db
from hub.models import APPLICATION, Actor, Block, Post
from hub.models.post import PUBLISHED


class Rejected(Exception):
    """The activity breaks an origin rule or names something it may not touch; nothing is stored."""


class Ignored(Exception):
    """The activity is well-formed but concerns nothing on this hub."""


def object_of(activity: dict):
    """The activity's object (a string id or an embedded object)."""
    return activity.get("object")


def object_id(activity: dict) -> str | None:
    """The id of the activity's object."""
    value = activity.get("object")
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    return convert.id_of(value)


def local_actor(uri: str | None, *, allow_instance: bool = False) -> Actor | None:
    """The local (non-suspended) organisation or network with this id."""
    if not uri:
        return None
    actor = db.session.scalar(select(Actor).where(Actor.uri == uri, Actor.domain.is_(None)))
    if actor is None or actor.suspended or (actor.type == APPLICATION and not allow_instance):
        return None
    return actor


def local_post(uri: str | None) -> Post | None:
    """A published local post with this id."""
    if not uri:
        return None
    post = db.session.scalar(select(Post).where(Post.uri == uri, Post.local.is_(True)))
    if post is None or post.state != PUBLISHED:
        return None
    return post


def require_same_host(uri: str | None, actor: Actor, what: str = "object") -> None:
    """Origin rule 3: the object lives on the actor's host."""
    if not uri or not convert.host_of(uri) or convert.host_of(uri) != convert.host_of(actor.uri):
        raise Rejected(f"the {what} {uri!r} is not on the actor's host")


def blocked(local: Actor, remote: Actor) -> bool:
    """True when the local actor blocks the remote one (or the remote one blocks us)."""
    return db.session.scalar(select(Block.id).where(
        ((Block.actor_id == local.id) & (Block.target_id == remote.id))
        | ((Block.actor_id == remote.id) & (Block.target_id == local.id)))) is not None


def undone_row(model, activity: dict, actor: Actor, *, target_column: str, find_target):
    """The row an Undo names: by the inner activity's id, else by (actor, the inner object's target).

    Only the actor who made the row may undo it.
    """
    inner = object_of(activity)
    inner_id = convert.id_of(inner)
    row = db.session.scalar(select(model).where(model.uri == inner_id)) if inner_id else None
    if row is None and isinstance(inner, dict):
        target = find_target(convert.id_of(inner.get("object")))
        if target is not None:
            row = db.session.scalar(select(model).filter_by(actor_id=actor.id, **{target_column: target.id}))
    if row is None:
        raise Ignored("nothing to undo")
    if row.actor_id != actor.id:
        raise Rejected(f"an Undo of someone else's {model.__name__}")
    return row
