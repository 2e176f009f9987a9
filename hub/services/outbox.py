"""Federating local changes: each function adds activities and their deliveries to the
current transaction (the caller commits), so a post and its deliveries commit together.

Audience: the accepted followers' inboxes (shared ones when known, each once) plus the inboxes
of mentioned remote actors; pending followers never receive anything, followers-only posts
included. A Delete also reaches every inbox the Create or an Update went to.
"""

from hub import convert
from hub.extensions import db
from hub.models import Actor, OutgoingActivity, Post
from hub.services import delivery, reach, urls


def _mentioned_inboxes(post: Post) -> list[str]:
    actors = [m.actor for m in post.mentions if m.actor is not None]
    return [a.inbox_for_delivery for a in actors if not a.is_local and not a.gone and a.inbox_for_delivery]


def _reply_inbox(post: Post) -> list[str]:
    parent = post.in_reply_to
    if parent is not None and not parent.actor.is_local and parent.actor.inbox_for_delivery:
        return [parent.actor.inbox_for_delivery]
    return []


def post_audience(post: Post) -> list[str]:
    """Inboxes a local post goes to: accepted followers, mentioned actors, the replied-to author."""
    return [*delivery.follower_inboxes(post.actor), *_mentioned_inboxes(post), *_reply_inbox(post)]


def post_published(post: Post) -> OutgoingActivity:
    """Queue Create{Note} for a newly published post."""
    db.session.flush()
    return delivery.enqueue(convert.create(post, media_url=urls.media_url), post.actor, post_audience(post),
                            post=post)


def post_edited(post: Post) -> OutgoingActivity:
    """Queue Update{Note} for an edited published post."""
    db.session.flush()
    inboxes = [*post_audience(post), *reach.previous_inboxes(post)]
    return delivery.enqueue(convert.update(post, media_url=urls.media_url), post.actor, inboxes, post=post)


def post_deleted(post: Post) -> OutgoingActivity:
    """Queue Delete{Tombstone} for a deleted published post."""
    db.session.flush()
    inboxes = [*post_audience(post), *reach.previous_inboxes(post)]
    return delivery.enqueue(convert.delete(post), post.actor, inboxes, post=post)


def actor_updated(actor: Actor) -> OutgoingActivity | None:
    """Queue Update{Organization|Group} to followers (profile or key changed)."""
    if not actor.is_local:
        return None
    db.session.flush()
    return delivery.enqueue(convert.update_actor(actor, media_url=urls.media_url), actor,
                            delivery.follower_inboxes(actor))
