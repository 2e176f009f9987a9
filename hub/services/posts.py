"""Writing, reviewing, publishing, editing and deleting an organisation's posts."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hub.extensions import db
from hub.models import Actor, Mention, Post, PostRevision, PostTag, Tag, User
from hub.models.base import utcnow
from hub.models.post import DELETED, DRAFT, PENDING, PUBLISHED, REJECTED, VISIBILITIES
from hub.services import (
    NotFound,
    PermissionDenied,
    ServiceError,
    accounts,
    audit,
    orgs,
    outbox,
    paging,
    search,
    text,
    urls,
)

LANGUAGES = ("lo", "en")
MAX_SUMMARY = 500


def _validate(source: str, language: str, visibility: str, summary: str) -> tuple[str, str]:
    source = (source or "").replace("\r\n", "\n").strip()
    summary = (summary or "").strip()
    if not source:
        raise ServiceError(_l("A post cannot be empty."))
    if len(source) > text.MAX_POST_CHARS:
        raise ServiceError(_l("A post is at most %(max)s characters (this one has %(count)s).",
                              max=text.MAX_POST_CHARS, count=len(source)))
    if language not in LANGUAGES:
        raise ServiceError(_l("Choose the post's language: Lao or English."))
    if visibility not in VISIBILITIES:
        raise ServiceError(_l("Choose who can see the post: public, unlisted or followers."))
    if len(summary) > MAX_SUMMARY:
        raise ServiceError(_l("A content warning is at most %(max)s characters.", max=MAX_SUMMARY))
    return source, summary


def may_publish_directly(user: User, org: Actor) -> bool:
    """Editors and owners publish at once, unless the org wants every post reviewed."""
    return orgs.has_role(user, org, "editor") and not org.requires_review


def _render(post: Post) -> None:
    """Fill content_html, tags and mentions from the post's source."""
    resolved = {}
    post.mentions.clear()
    for user, host in text.mentions(post.source):
        actor = accounts.resolve_mention(user, host)
        if actor is not None and actor.id != post.actor_id:
            resolved[(user, host)] = actor.url or actor.uri
            if all(m.actor_id != actor.id for m in post.mentions):
                name = f"@{actor.acct(urls.local_domain())}"
                post.mentions.append(Mention(actor_id=actor.id, name=name))
    post.content_html = text.render_html(post.source, lambda n: urls.base_url() + text.tag_path(n), resolved)
    post.tags.clear()
    db.session.flush()
    for name in text.hashtags(post.source):
        key = text.normalise_tag(name)
        tag = db.session.scalar(select(Tag).filter_by(name=key))
        if tag is None:
            tag = Tag(name=key)
            db.session.add(tag)
            db.session.flush()
        post.tags.append(PostTag(tag_id=tag.id, display=name))


def create_post(org: Actor, user: User, source: str, *, language: str = "lo", visibility: str = "public",
                summary: str = "", action: str = "publish") -> Post:
    """Write a post. action: 'draft' keeps it, 'submit' asks for review, 'publish' publishes.

    Someone who may not publish directly gets their 'publish' turned into a review request.
    """
    orgs.require_role(user, org, "contributor")
    source, summary = _validate(source, language, visibility, summary)
    post = Post(actor_id=org.id, local=True, source=source, language=language, visibility=visibility,
                summary=summary, sensitive=bool(summary), author_user_id=user.id, state=DRAFT)
    db.session.add(post)
    db.session.flush()
    post.uri = post.url = urls.post_uri(org.handle, post.id)
    _render(post)
    audit.record(user, org, "post.write", post)
    if action == "publish" and may_publish_directly(user, org):
        _publish(post, user)
    elif action in ("publish", "submit"):
        post.state = PENDING
        audit.record(user, org, "post.submit", post)
    db.session.commit()
    return post


def _publish(post: Post, user: User | None) -> None:
    post.state = PUBLISHED
    post.published_at = utcnow()
    post.approved_by_id = user.id if user else None
    audit.record(user, post.actor, "post.publish", post)
    search.index_post(post)
    outbox.post_published(post)


def publish_as_operator(org: Actor, source: str, *, language: str = "lo", visibility: str = "public",
                        summary: str = "") -> Post:
    """Publish at once as the organisation, from the command line (no staff member involved)."""
    source, summary = _validate(source, language, visibility, summary)
    post = Post(actor_id=org.id, local=True, source=source, language=language, visibility=visibility,
                summary=summary, sensitive=bool(summary), state=DRAFT)
    db.session.add(post)
    db.session.flush()
    post.uri = post.url = urls.post_uri(org.handle, post.id)
    _render(post)
    _publish(post, None)
    db.session.commit()
    return post


def get_local_post(org: Actor, post_id: int) -> Post:
    """A post of this organisation, in any state but deleted."""
    post = db.session.get(Post, post_id)
    if post is None or post.actor_id != org.id or post.state == DELETED:
        raise NotFound(_l("No such post."))
    return post


def submit(post: Post, user: User) -> Post:
    """Send a draft to the review queue."""
    _require_author_or_editor(post, user)
    if post.state not in (DRAFT, REJECTED):
        raise ServiceError(_l("Only a draft can be sent for review."))
    post.state = PENDING
    audit.record(user, post.actor, "post.submit", post)
    db.session.commit()
    return post


def approve(post: Post, user: User) -> Post:
    """An editor approves a pending post, which publishes it."""
    orgs.require_role(user, post.actor, "editor")
    if post.state not in (PENDING, DRAFT):
        raise ServiceError(_l("This post is not waiting for review."))
    if post.actor.requires_review and post.author_user_id == user.id:
        raise PermissionDenied(_l("Another editor must review your own post."))
    audit.record(user, post.actor, "post.approve", post)
    _publish(post, user)
    db.session.commit()
    return post


def reject(post: Post, user: User, note: str = "") -> Post:
    """An editor sends a pending post back to its author with a note."""
    orgs.require_role(user, post.actor, "editor")
    if post.state != PENDING:
        raise ServiceError(_l("This post is not waiting for review."))
    post.state, post.review_note = REJECTED, (note or "").strip()[:1000]
    audit.record(user, post.actor, "post.reject", post, detail=post.review_note)
    db.session.commit()
    return post


def _editable(post: Post, user: User, role: str | None) -> bool:
    """Editors and owners may change any post; contributors their own until it is published."""
    if role is None:
        return False
    if orgs.ROLE_RANK[role] >= orgs.ROLE_RANK["editor"]:
        return True
    return post.author_user_id == user.id and post.state != PUBLISHED


def _require_author_or_editor(post: Post, user: User) -> None:
    if not _editable(post, user, orgs.role_of(user, post.actor)):
        raise PermissionDenied(_l("You may not change this post."))


def edit(post: Post, user: User, source: str, *, language: str | None = None, summary: str | None = None,
         visibility: str | None = None, action: str | None = None) -> Post:
    """Change a post's text; a published post keeps its old version and federates an Update.

    For an unpublished post, action 'submit' or 'publish' moves it on in the same transaction.
    """
    _require_author_or_editor(post, user)
    language = language or post.language
    summary = post.summary if summary is None else summary
    if post.state == PUBLISHED and visibility not in (None, post.visibility):
        raise ServiceError(_l("The audience of a published post cannot be changed."))
    visibility = visibility or post.visibility
    source, summary = _validate(source, language, visibility, summary)
    if post.state == PUBLISHED:
        db.session.add(PostRevision(post_id=post.id, source=post.source, summary=post.summary,
                                    language=post.language, edited_by_id=user.id))
    post.source, post.language, post.summary, post.visibility = source, language, summary, visibility
    post.sensitive = bool(summary)
    _render(post)
    audit.record(user, post.actor, "post.edit", post)
    if post.state == PUBLISHED:
        post.edited_at = utcnow()
        search.index_post(post)
        outbox.post_edited(post)
    elif action in ("submit", "publish"):
        _move_on(post, user, action)
    db.session.commit()
    return post


def _move_on(post: Post, user: User, action: str) -> None:
    """After editing an unpublished post: publish it when the member may, else ask for review."""
    if action == "publish" and may_publish_directly(user, post.actor):
        audit.record(user, post.actor, "post.approve", post)
        _publish(post, user)
    elif post.state in (DRAFT, REJECTED):
        post.state = PENDING
        audit.record(user, post.actor, "post.submit", post)


def delete(post: Post, user: User) -> None:
    """Delete a post; a published one federates a Delete and its URL answers 410 Gone."""
    _require_author_or_editor(post, user)
    was_published = post.state == PUBLISHED
    post.state, post.deleted_at = DELETED, utcnow()
    audit.record(user, post.actor, "post.delete", post)
    search.index_post(post)
    if was_published:
        outbox.post_deleted(post)
    db.session.commit()


def review_queue(org: Actor) -> list[Post]:
    """Posts waiting for an editor, oldest first."""
    return list(db.session.scalars(select(Post).filter_by(actor_id=org.id, state=PENDING)
                                   .order_by(Post.created_at)))


def drafts(org: Actor, user: User) -> list[Post]:
    """A member's own drafts and rejected posts (editors see everyone's)."""
    query = select(Post).where(Post.actor_id == org.id, Post.state.in_((DRAFT, REJECTED)))
    if not orgs.has_role(user, org, "editor"):
        query = query.where(Post.author_user_id == user.id)
    return list(db.session.scalars(query.order_by(Post.created_at.desc())))


def _public_query(org: Actor, include_unlisted: bool):
    visible = ("public", "unlisted") if include_unlisted else ("public",)
    return select(Post).where(Post.actor_id == org.id, Post.state == PUBLISHED, Post.visibility.in_(visible))


def public_posts(org: Actor, *, limit: int = 20, with_tags: bool = False) -> list[Post]:
    """The latest published public posts, newest first (with_tags: their tags read in one more query)."""
    query = _public_query(org, include_unlisted=False)
    if with_tags:
        query = query.options(selectinload(Post.tags))
    return list(db.session.scalars(query.order_by(Post.id.desc()).limit(limit)))


def profile_page(org: Actor, *, before_id: int | None = None, limit: int = 20) -> paging.Page:
    """A page of the posts a profile shows (public and unlisted), newest first."""
    return paging.newest_first(_public_query(org, include_unlisted=True), Post.id, before_id, limit)


def may_edit(post: Post, user: User) -> bool:
    """True when the user may change or delete this post (editors; contributors their unpublished own)."""
    return _editable(post, user, orgs.role_of(user, post.actor))


def edit_rule(org: Actor, user: User):
    """may_edit for a page of the organisation's posts, with the user's role looked up once."""
    role = orgs.role_of(user, org)
    return lambda post: post.actor_id == org.id and _editable(post, user, role)


def recent_published(org: Actor, *, before_id: int | None = None, limit: int = 20) -> paging.Page:
    """A page of published posts of every audience, newest first (for staff pages)."""
    query = select(Post).where(Post.actor_id == org.id, Post.state == PUBLISHED)
    return paging.newest_first(query, Post.id, before_id, limit)


def tagged(name: str, *, limit: int = 20) -> list[Post]:
    """This hub's public published posts with a hashtag, newest first."""
    key = text.normalise_tag(name.lstrip("#"))
    return list(db.session.scalars(
        select(Post).join(PostTag, PostTag.post_id == Post.id).join(Tag, Tag.id == PostTag.tag_id)
        .where(Tag.name == key, Post.local.is_(True), Post.state == PUBLISHED, Post.visibility == "public")
        .order_by(Post.id.desc()).limit(limit)))
