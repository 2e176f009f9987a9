"""ActivityPub documents the hub serves: actors, notes, activities and collections.

Each function returns (status, document or None); the blueprint only wraps it in a response.
Non-public and absent posts get the same 404, deleted ones 410 with a Tombstone.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, literal_column, or_, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from hub import convert
from hub.extensions import db
from hub.models import Actor, Boost, Follow, Mention, Post, PostTag
from hub.models.post import DELETED, FOLLOWERS, PUBLIC, PUBLISHED, UNLISTED
from hub.services import inbox_cache, inbox_common, orgs, urls

PAGE_SIZE = 20
FOLLOW_PAGE_SIZE = 50
MAX_PAGE = 10_000


def actor_document(actor: Actor) -> dict:
    """The actor document of a local actor."""
    return convert.actor_to_ap(actor, media_url=urls.media_url)


def find_actor(handle: str) -> Actor | None:
    """A local organisation or network that is not suspended."""
    actor = orgs.get_local_actor(handle)
    if actor is None or actor.suspended or actor.type == "Application":
        return None
    return actor


def local_post(handle: str, post_id: int) -> Post | None:
    """A local post of the actor with this handle, in any state."""
    actor = find_actor(handle)
    post = db.session.get(Post, post_id) if actor is not None else None
    if post is None or not post.local or post.actor_id != actor.id:
        return None
    return post


def post_document(handle: str, post_id: int) -> tuple[int, dict | None]:
    """The Note at a post's id: 200 when public or unlisted, 410 Tombstone when deleted, else 404."""
    post = local_post(handle, post_id)
    if post is None:
        return 404, None
    if post.state == DELETED and post.published_at is not None:
        return 410, convert.tombstone(post)
    if post.state != PUBLISHED or post.visibility not in (PUBLIC, UNLISTED):
        return 404, None
    return 200, convert.note_to_ap(post, media_url=urls.media_url)


def followers_only_post(handle: str, post_id: int) -> Post | None:
    """A local actor's published followers-only post, or None."""
    post = local_post(handle, post_id)
    if post is None or post.state != PUBLISHED or post.visibility != FOLLOWERS:
        return None
    return post


def note_for_reader(post: Post, reader: Actor | None) -> dict | None:
    """The Note of a followers-only post for a remote reader whose signature was verified and who
    follows its author (accepted) or is mentioned in it, when neither blocks the other and the
    reader's server is not blocked here; None otherwise (answered 404, as for an absent post)."""
    if reader is None or reader.is_local or inbox_cache.cache().domain_blocked(reader.domain) \
            or inbox_common.blocked(post.actor, reader):
        return None
    follows = exists().where(Follow.follower_id == reader.id, Follow.target_id == post.actor_id,
                             Follow.state == Follow.ACCEPTED)
    mentioned = exists().where(Mention.post_id == post.id, Mention.actor_id == reader.id)
    if not db.session.scalar(select(follows | mentioned)):
        return None
    return convert.note_to_ap(post, media_url=urls.media_url)


def create_document(handle: str, post_id: int) -> tuple[int, dict | None]:
    """The Create activity of a public post (at <post id>/activity)."""
    status, note = post_document(handle, post_id)
    if status != 200:
        return status, None
    return 200, convert.create(local_post(handle, post_id), media_url=urls.media_url)


def boost_document(handle: str, boost_id: int) -> tuple[int, dict | None]:
    """A local actor's Announce at its stable id (404 once undone)."""
    actor = find_actor(handle)
    boost = db.session.get(Boost, boost_id) if actor else None
    if boost is None or boost.actor_id != actor.id or not boost.post.is_visible_publicly:
        return 404, None
    return 200, convert.announce(boost, post_uri=boost.post.uri, author_uri=boost.post.actor.uri)


def _page_number(page) -> int | None:
    try:
        number = int(page)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_PAGE else None


def _outbox_posts(actor: Actor, *columns):
    """SELECT columns FROM the actor's posts that its outbox lists (local, published, public)."""
    return select(*columns).select_from(Post).where(
        Post.actor_id == actor.id, Post.local.is_(True), Post.state == PUBLISHED, Post.visibility == PUBLIC)


def _outbox_boosts(actor: Actor, *columns):
    """SELECT columns FROM the actor's boosts that its outbox lists (of published, public posts)."""
    return (select(*columns).select_from(Boost).join(Post, Post.id == Boost.post_id)
            .where(Boost.actor_id == actor.id, Post.state == PUBLISHED, Post.visibility == PUBLIC))


@dataclass(frozen=True)
class OutboxCursor:
    """Where an outbox page starts: just after this item in the outbox's order (time, id and
    kind, all descending). Written into the `next` link as `?before=<time>_<p|b><id>`."""

    at: datetime
    row_id: int
    kind: str  # "post" or "boost"

    def __str__(self) -> str:
        return f"{self.at.isoformat()}_{self.kind[0]}{self.row_id}"

    @classmethod
    def parse(cls, text: str) -> "OutboxCursor | None":
        """The cursor written as `text`, or None when it is not one."""
        found = _CURSOR.fullmatch(text or "")
        if found is None:
            return None
        try:
            at = datetime.fromisoformat(found["at"])  # naive: the pattern admits no offset
        except ValueError:
            return None
        return cls(at, int(found["id"]), "post" if found["kind"] == "p" else "boost")

    def after(self, at, row_id, kind: str):
        """The condition on one side's rows (all of `kind`) that come after this cursor."""
        earlier = or_(at < self.at, and_(at == self.at, row_id < self.row_id))
        if kind < self.kind:  # the same time and id as the cursor's item, but of the kind after it
            return or_(earlier, and_(at == self.at, row_id == self.row_id))
        return earlier


_CURSOR = re.compile(r"(?P<at>\d{4}-\d\d-\d\dT[\d:.]{8,15})_(?P<kind>[pb])(?P<id>\d{1,18})")


def _outbox_rows(actor: Actor, limit: int, offset: int = 0,
                 before: OutboxCursor | None = None) -> list[tuple[str, int, datetime]]:
    """(kind, id, time) of one page of the outbox, newest first, from `offset` or after `before`.
    Each side is cut to the first offset + limit rows in its own index order, so a big outbox's
    first page reads few rows; the database merges the two."""
    posts = _outbox_posts(actor, Post.published_at.label("at"), literal_column("'post'").label("kind"),
                          Post.id.label("row_id"))
    boosts = _outbox_boosts(actor, Boost.created_at.label("at"), literal_column("'boost'").label("kind"),
                            Boost.id.label("row_id"))
    if before is not None:
        posts = posts.where(before.after(Post.published_at, Post.id, "post"))
        boosts = boosts.where(before.after(Boost.created_at, Boost.id, "boost"))
    posts = posts.order_by(Post.published_at.desc(), Post.id.desc()).limit(offset + limit).subquery()
    boosts = boosts.order_by(Boost.created_at.desc(), Boost.id.desc()).limit(offset + limit).subquery()
    both = union_all(select(posts), select(boosts)).subquery()
    return db.session.execute(select(both.c.kind, both.c.row_id, both.c.at)
                              .order_by(both.c.at.desc(), both.c.row_id.desc(), both.c.kind.desc())
                              .offset(offset).limit(limit)).all()


def outbox_items(actor: Actor, limit: int, offset: int = 0,
                 before: OutboxCursor | None = None) -> tuple[list[dict], list[OutboxCursor]]:
    """Create (public posts) and Announce (boosts) activities, newest first, and each one's cursor."""
    rows = _outbox_rows(actor, limit, offset, before)
    page_posts, page_boosts = _load_page_rows(rows)
    items = []
    for kind, row_id, _at in rows:
        if kind == "post":
            items.append(convert.create(page_posts[row_id], media_url=urls.media_url))
        else:
            boost = page_boosts[row_id]
            items.append(convert.announce(boost, post_uri=boost.post.uri, author_uri=boost.post.actor.uri))
    for item in items:
        item.pop("@context", None)
    return items, [OutboxCursor(at, row_id, kind) for kind, row_id, at in rows]


def _load_page_rows(rows: list[tuple[str, int, datetime]]) -> tuple[dict[int, Post], dict[int, Boost]]:
    """The page's posts (with tags, mentions, media) and boosts in a few queries, not one per item.
    The posts are the outbox owner's, already in the session: `post.actor` is found there, not joined."""
    post_ids = [row_id for kind, row_id, _at in rows if kind == "post"]
    boost_ids = [row_id for kind, row_id, _at in rows if kind == "boost"]
    posts = db.session.scalars(select(Post).where(Post.id.in_(post_ids)).options(
        selectinload(Post.attachments),
        selectinload(Post.tags).joinedload(PostTag.tag),
        selectinload(Post.mentions).joinedload(Mention.actor))).all() if post_ids else []
    boosts = db.session.scalars(select(Boost).where(Boost.id.in_(boost_ids)).options(
        joinedload(Boost.post).joinedload(Post.actor))).all() if boost_ids else []
    return {p.id: p for p in posts}, {b.id: b for b in boosts}


def outbox_total(actor: Actor) -> int:
    """Number of public posts and boosts in the outbox."""
    posts = db.session.scalar(_outbox_posts(actor, func.count()))
    boosts = db.session.scalar(_outbox_boosts(actor, func.count()))
    return (posts or 0) + (boosts or 0)


def outbox_document(actor: Actor, page=None, before=None) -> tuple[int, dict | None]:
    """The paged outbox: the collection with `first`, or one page: ?page=N counted from the newest
    item, or ?before=<cursor> after a given item, which `next` links use, so that a post published
    between two fetches does not make the next page repeat an item."""
    uri = actor.outbox
    if page is None and before is None:
        return 200, convert.ordered_collection(uri, outbox_total(actor), first=f"{uri}?page=1")
    if before is not None:
        cursor = OutboxCursor.parse(before)
        if cursor is None:
            return 404, None
        items, cursors = outbox_items(actor, PAGE_SIZE + 1, before=cursor)
        page_uri, prev_uri = f"{uri}?before={cursor}", None
    else:
        number = _page_number(page)
        if number is None:
            return 404, None
        items, cursors = outbox_items(actor, PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
        page_uri, prev_uri = f"{uri}?page={number}", f"{uri}?page={number - 1}" if number > 1 else None
    next_uri = f"{uri}?before={cursors[PAGE_SIZE - 1]}" if len(items) > PAGE_SIZE else None
    return 200, convert.collection_page(page_uri, uri, items[:PAGE_SIZE], next_uri=next_uri,
                                        prev_uri=prev_uri)


def _follow_collection(actor: Actor, uri: str, page, *, followers: bool) -> tuple[int, dict | None]:
    """Followers or following: hidden (no count, no items) unless the organisation opted in."""
    if not actor.show_follows:
        if page is not None:
            return 404, None
        return 200, convert.ordered_collection(uri, None)
    own, other = Follow.target_id, Follow.follower_id
    if not followers:
        own, other = other, own
    where = (own == actor.id, Follow.state == Follow.ACCEPTED)
    if page is None:
        total = db.session.scalar(select(func.count()).select_from(Follow).where(*where)) or 0
        return 200, convert.ordered_collection(uri, total, first=f"{uri}?page=1")
    number = _page_number(page)
    if number is None:
        return 404, None
    rows = list(db.session.scalars(
        select(Actor.uri).join(Follow, other == Actor.id).where(*where, Actor.suspended.is_(False))
        .order_by(Follow.id.desc()).offset((number - 1) * FOLLOW_PAGE_SIZE).limit(FOLLOW_PAGE_SIZE + 1)))
    next_uri = f"{uri}?page={number + 1}" if len(rows) > FOLLOW_PAGE_SIZE else None
    return 200, convert.collection_page(f"{uri}?page={number}", uri, rows[:FOLLOW_PAGE_SIZE],
                                        next_uri=next_uri)


def followers_document(actor: Actor, page=None) -> tuple[int, dict | None]:
    """The followers collection (see _follow_collection)."""
    return _follow_collection(actor, actor.followers_url, page, followers=True)


def following_document(actor: Actor, page=None) -> tuple[int, dict | None]:
    """The following collection (see _follow_collection)."""
    return _follow_collection(actor, actor.following_url, page, followers=False)


def featured_document(actor: Actor) -> dict:
    """Pinned posts: none yet, an empty collection."""
    return convert.ordered_collection(f"{actor.uri}/featured", 0, items=[])
