"""An organisation's relations with the fediverse: follow and unfollow accounts, boost, like,
and manage its own followers (approve, reject, remove).

Each operation changes the database and queues the matching activity in one transaction.
"""

import uuid

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from hub import convert
from hub.extensions import db
from hub.models import Actor, Boost, Follow, Like, Post, User
from hub.models.base import utcnow
from hub.services import (
    NotFound,
    ServiceError,
    accounts,
    audit,
    delivery,
    notifications,
    orgs,
    paging,
    remote,
    urls,
)
from hub.services.inbox_follows import send_accept, send_reject

BOOSTABLE = ("public", "unlisted")
PER_PAGE = 50  # accounts on a page of followers, follow requests or followed accounts


def _follow_page(matching, account, before_id: int | None, limit: int | None) -> paging.Page:
    """The follows `matching` selects, a page of them below `before_id`, each with the account on
    the other side loaded in the same query, and how many there are in all."""
    query = select(Follow).where(*matching).options(joinedload(account))
    page = paging.newest_first(query, Follow.id, before_id, limit or PER_PAGE)
    page.total = _count(matching)
    return page


def _count(matching) -> int:
    return db.session.scalar(select(func.count()).select_from(Follow).where(*matching)) or 0


def _allowed(user: User | None, org: Actor, minimum: str = "editor") -> None:
    """Staff need the role; user=None is the operator on the command line."""
    if user is not None:
        orgs.require_role(user, org, minimum)


# --- following ---------------------------------------------------------------------------------

def follow(org: Actor, account: str, *, user: User | None = None) -> Follow:
    """The organisation follows an account (@user@host or actor URL): pending until it accepts."""
    _allowed(user, org)
    target = accounts.resolve_account(account)
    if target.id == org.id:
        raise ServiceError(_l("An organisation cannot follow itself."))
    found = db.session.scalar(select(Follow).filter_by(follower_id=org.id, target_id=target.id))
    if found is not None and found.state == Follow.ACCEPTED:
        return found
    if found is None:
        found = Follow(follower_id=org.id, target_id=target.id)
        db.session.add(found)
    found.state, found.accepted_at = Follow.PENDING, None
    found.uri = f"{org.uri}/follows/{uuid.uuid4().hex}"
    found.follower, found.target = org, target
    db.session.flush()
    if target.is_local:
        if not target.manually_approves_followers:
            found.state, found.accepted_at = Follow.ACCEPTED, utcnow()
        notifications.notify(target, notifications.FOLLOW if found.state == Follow.ACCEPTED
                             else notifications.FOLLOW_REQUEST, org)
    else:
        delivery.enqueue(convert.follow(found), org, [target.inbox])
    audit.record(user, org, "social.follow", detail=target.uri)
    db.session.commit()
    return found


def unfollow(org: Actor, account: str, *, user: User | None = None) -> None:
    """Stop following an account (Undo{Follow} to it)."""
    _allowed(user, org)
    target = accounts.resolve_account(account, fetch=False)
    found = db.session.scalar(select(Follow).filter_by(follower_id=org.id, target_id=target.id))
    if found is None:
        raise NotFound(_l("The organisation does not follow this account."))
    if not target.is_local and found.uri:
        delivery.enqueue(convert.undo(convert.follow(found)), org, [target.inbox])
    db.session.delete(found)
    audit.record(user, org, "social.unfollow", detail=target.uri)
    db.session.commit()


def following(org: Actor, *, before_id: int | None = None, limit: int | None = None) -> paging.Page:
    """Accounts the organisation follows or asked to follow, newest first, a page at a time."""
    return _follow_page((Follow.follower_id == org.id,), Follow.target, before_id, limit)


# --- our followers -----------------------------------------------------------------------------

def followers(org: Actor, *, user: User | None = None, state: str = Follow.ACCEPTED,
              before_id: int | None = None, limit: int | None = None) -> paging.Page:
    """The organisation's followers (owners only) or, with state=pending, its follow requests
    (editors), newest first, a page at a time."""
    _allowed(user, org, "owner" if state == Follow.ACCEPTED else "editor")
    matching = (Follow.target_id == org.id, Follow.state == state)
    return _follow_page(matching, Follow.follower, before_id, limit)


def follow_request_count(org: Actor, *, user: User | None = None) -> int:
    """How many follow requests wait for approval (editors)."""
    _allowed(user, org, "editor")
    return _count((Follow.target_id == org.id, Follow.state == Follow.PENDING))


def _inbound(org: Actor, follow_id: int) -> Follow:
    found = db.session.get(Follow, follow_id)
    if found is None or found.target_id != org.id:
        raise NotFound(_l("No such follower or follow request."))
    return found


def approve_follow(org: Actor, follow_id: int, *, user: User | None = None) -> Follow:
    """Accept a held follow request (Accept{Follow} to the follower)."""
    _allowed(user, org)
    found = _inbound(org, follow_id)
    if found.state != Follow.PENDING:
        raise ServiceError(_l("This follow request was answered already."))
    found.state, found.accepted_at = Follow.ACCEPTED, utcnow()
    if not found.follower.is_local:
        send_accept(found)
    notifications.notify(org, notifications.FOLLOW, found.follower)
    audit.record(user, org, "social.approve_follow", detail=found.follower.uri)
    db.session.commit()
    return found


def reject_follow(org: Actor, follow_id: int, *, user: User | None = None) -> None:
    """Refuse a follow request, or remove an existing follower (Reject{Follow} to it)."""
    found = _inbound(org, follow_id)
    _allowed(user, org, "owner" if found.state == Follow.ACCEPTED else "editor")
    if not found.follower.is_local and found.uri:
        send_reject(found)
    audit.record(user, org, "social.reject_follow", detail=found.follower.uri)
    db.session.delete(found)
    db.session.commit()


remove_follower = reject_follow


# --- boosts and likes --------------------------------------------------------------------------

def find_post(reference: str) -> Post:
    """A post by its id or URL: ours, a cached remote one, or fetched from its server."""
    reference = (reference or "").strip()
    if not reference.startswith(("http://", "https://")):
        raise ServiceError(_l("Paste the address (URL) of the post."))
    post = db.session.scalar(select(Post).where((Post.uri == reference) | (Post.url == reference)))
    if post is None:
        if convert.host_of(reference) == convert.host_of(urls.base_url()):
            raise NotFound(_l("There is no such post on this hub."))
        try:
            post = remote.fetch_note(reference)
        except remote.FetchError as exc:
            raise NotFound(_l("The post could not be found: %(reason)s.", reason=remote.reason(exc))) from exc
    return post


def _post_audience(org: Actor, post: Post) -> list[str]:
    inboxes = delivery.follower_inboxes(org)
    if not post.actor.is_local and post.actor.inbox_for_delivery:
        inboxes.append(post.actor.inbox_for_delivery)
    return inboxes


def boost(org: Actor, reference: str, *, user: User | None = None) -> Boost:
    """Boost a public post (ours or remote) by its URL: an Announce to our followers and its author."""
    _allowed(user, org)
    post = find_post(reference)
    if post.state != "published" or post.visibility not in BOOSTABLE:
        raise ServiceError(_l("Only public posts can be boosted."))
    found = db.session.scalar(select(Boost).filter_by(actor_id=org.id, post_id=post.id))
    if found is not None:
        return found
    found = Boost(uri=f"{org.uri}/boosts/new-{uuid.uuid4().hex}", actor_id=org.id, post_id=post.id)
    db.session.add(found)
    db.session.flush()
    found.uri = urls.boost_uri(org.handle, found.id)
    found.actor, found.post = org, post
    delivery.enqueue(convert.announce(found, post_uri=post.uri, author_uri=post.actor.uri), org,
                     _post_audience(org, post), post=post)
    if post.actor.is_local and post.actor_id != org.id:
        notifications.notify(post.actor, notifications.BOOST, org, post)
    audit.record(user, org, "social.boost", detail=post.uri)
    db.session.commit()
    return found


def unboost(org: Actor, reference: str, *, user: User | None = None) -> None:
    """Undo a boost (Undo{Announce} to the same audience)."""
    _allowed(user, org)
    post = find_post(reference)
    found = db.session.scalar(select(Boost).filter_by(actor_id=org.id, post_id=post.id))
    if found is None:
        raise NotFound(_l("The organisation has not boosted this post."))
    activity = convert.announce(found, post_uri=post.uri, author_uri=post.actor.uri)
    delivery.enqueue(convert.undo(activity), org, _post_audience(org, post), post=post)
    db.session.delete(found)
    audit.record(user, org, "social.unboost", detail=post.uri)
    db.session.commit()


def like(org: Actor, reference: str, *, user: User | None = None) -> Like:
    """Like a post by its URL (a Like to its author)."""
    _allowed(user, org)
    post = find_post(reference)
    if post.state != "published":
        raise ServiceError(_l("This post cannot be liked."))
    found = db.session.scalar(select(Like).filter_by(actor_id=org.id, post_id=post.id))
    if found is not None:
        return found
    found = Like(uri=f"{org.uri}/likes/{uuid.uuid4().hex}", actor_id=org.id, post_id=post.id)
    db.session.add(found)
    db.session.flush()
    found.actor, found.post = org, post
    if post.actor.is_local:
        if post.actor_id != org.id:
            notifications.notify(post.actor, notifications.LIKE, org, post)
    elif post.actor.inbox:
        delivery.enqueue(convert.like(found), org, [post.actor.inbox])
    audit.record(user, org, "social.like", detail=post.uri)
    db.session.commit()
    return found


def unlike(org: Actor, reference: str, *, user: User | None = None) -> None:
    """Undo a like (Undo{Like} to the post's author)."""
    _allowed(user, org)
    post = find_post(reference)
    found = db.session.scalar(select(Like).filter_by(actor_id=org.id, post_id=post.id))
    if found is None:
        raise NotFound(_l("The organisation has not liked this post."))
    if not post.actor.is_local and post.actor.inbox:
        delivery.enqueue(convert.undo(convert.like(found)), org, [post.actor.inbox])
    db.session.delete(found)
    audit.record(user, org, "social.unlike", detail=post.uri)
    db.session.commit()


def replies(post: Post) -> list[Post]:
    """Public replies received for a post, oldest first (shown under it)."""
    return list(db.session.scalars(select(Post).where(
        Post.in_reply_to_id == post.id, Post.state == "published", Post.visibility.in_(BOOSTABLE))
        .order_by(Post.published_at, Post.id)))


def counts(post: Post) -> dict:
    """How many boosts, likes and public replies a post has."""
    return {"boosts": db.session.query(Boost).filter_by(post_id=post.id).count(),
            "likes": db.session.query(Like).filter_by(post_id=post.id).count(),
            "replies": len(replies(post))}
