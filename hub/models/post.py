"""Posts (local and remote notes), their revisions, tags, mentions, boosts, likes and media."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import utcnow

PUBLIC = "public"
UNLISTED = "unlisted"
FOLLOWERS = "followers"
DIRECT = "direct"
VISIBILITIES = (PUBLIC, UNLISTED, FOLLOWERS)

DRAFT = "draft"
PENDING = "pending"
PUBLISHED = "published"
DELETED = "deleted"
REJECTED = "rejected"


class Post(db.Model):
    """A note: written here by an organisation's staff, or received from a remote server."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_actor_state_published", "actor_id", "state", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str | None] = mapped_column(String(2048), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    local: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[str] = mapped_column(String(16), default=PUBLIC)
    state: Mapped[str] = mapped_column(String(16), default=DRAFT)
    in_reply_to_uri: Mapped[str | None] = mapped_column(String(2048), index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"),
                                                       index=True)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    review_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)

    actor = relationship("Actor")
    author = relationship("User", foreign_keys=[author_user_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    in_reply_to = relationship("Post", remote_side=[id])
    tags = relationship("PostTag", cascade="all, delete-orphan")
    mentions = relationship("Mention", cascade="all, delete-orphan")
    attachments = relationship("Media", back_populates="post", foreign_keys="Media.post_id")

    @property
    def is_visible_publicly(self) -> bool:
        """True when anyone may read it (public or unlisted, published)."""
        return self.state == PUBLISHED and self.visibility in (PUBLIC, UNLISTED)


class PostRevision(db.Model):
    """An earlier version of a local post, kept when it is edited."""

    __tablename__ = "post_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(16))
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Tag(db.Model):
    """A hashtag, keyed by its case-folded name (Lao marks kept)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)


class PostTag(db.Model):
    """A hashtag used in a post."""

    __tablename__ = "post_tags"
    __table_args__ = (UniqueConstraint("post_id", "tag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    display: Mapped[str] = mapped_column(String(255))

    tag = relationship("Tag")


class Mention(db.Model):
    """An actor mentioned in a post (addressed when the post is delivered)."""

    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("post_id", "actor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(512))

    actor = relationship("Actor")


class Boost(db.Model):
    """An Announce of a post by an actor (ours of any post, or a remote actor's of ours)."""

    __tablename__ = "boosts"
    __table_args__ = (UniqueConstraint("actor_id", "post_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    actor = relationship("Actor")
    post = relationship("Post")


class Like(db.Model):
    """A Like of a post."""

    __tablename__ = "likes"
    __table_args__ = (UniqueConstraint("actor_id", "post_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    actor = relationship("Actor")
    post = relationship("Post")


class Media(db.Model):
    """An image: uploaded (re-encoded, metadata stripped) or a remote attachment's address."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"), index=True)
    file_name: Mapped[str | None] = mapped_column(String(255))
    remote_url: Mapped[str | None] = mapped_column(String(2048))
    media_type: Mapped[str] = mapped_column(String(64), default="image/jpeg")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    blurhash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    post = relationship("Post", back_populates="attachments", foreign_keys=[post_id])


class SearchTerm(db.Model):
    """One word of a public post, segmented by ICU (Lao has no spaces between words)."""

    __tablename__ = "search_terms"
    __table_args__ = (UniqueConstraint("term", "post_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(64))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
