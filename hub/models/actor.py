"""Actors: local organisations, networks and the instance, and remote accounts, in one table."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import utcnow

ORGANIZATION = "Organization"
GROUP = "Group"
APPLICATION = "Application"
LOCAL_TYPES = (ORGANIZATION, GROUP, APPLICATION)


class Actor(db.Model):
    """An ActivityPub actor; `domain` is None for the hub's own actors."""

    __tablename__ = "actors"
    __table_args__ = (UniqueConstraint("handle", "domain"), Index("ix_actors_handle_lower", "handle"))

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32), default=ORGANIZATION)
    handle: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    inbox: Mapped[str | None] = mapped_column(String(2048))
    shared_inbox: Mapped[str | None] = mapped_column(String(2048))
    outbox: Mapped[str | None] = mapped_column(String(2048))
    followers_url: Mapped[str | None] = mapped_column(String(2048))
    following_url: Mapped[str | None] = mapped_column(String(2048))
    name: Mapped[str] = mapped_column(String(255), default="")
    # Local actors keep the bio per language as plain text; remote ones keep sanitised HTML in summary_html.
    bio_lo: Mapped[str] = mapped_column(Text, default="")
    bio_en: Mapped[str] = mapped_column(Text, default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(2048))
    icon_url: Mapped[str | None] = mapped_column(String(2048))
    avatar_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", use_alter=True))
    key_id: Mapped[str | None] = mapped_column(String(2048), unique=True)
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    private_key_pem: Mapped[str | None] = mapped_column(Text)
    manually_approves_followers: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    show_follows: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_review: Mapped[bool] = mapped_column(Boolean, default=False)
    default_language: Mapped[str] = mapped_column(String(8), default="lo")
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    avatar = relationship("Media", foreign_keys=[avatar_id])

    @property
    def is_local(self) -> bool:
        """True for the hub's own actors."""
        return self.domain is None

    @property
    def inbox_for_delivery(self) -> str | None:
        """The shared inbox when the actor has one, else its own inbox."""
        return self.shared_inbox or self.inbox

    def acct(self, local_domain: str) -> str:
        """Return user@host for this actor."""
        return f"{self.handle}@{self.domain or local_domain}"


class Follow(db.Model):
    """A follow relation between two actors, inbound or outbound, with its Follow activity id."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("follower_id", "target_id"),)

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    id: Mapped[int] = mapped_column(primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    uri: Mapped[str | None] = mapped_column(String(2048), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)

    follower = relationship("Actor", foreign_keys=[follower_id])
    target = relationship("Actor", foreign_keys=[target_id])


class Block(db.Model):
    """One actor blocks another (a remote Block of one of ours, or ours of a remote account)."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("actor_id", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    uri: Mapped[str | None] = mapped_column(String(2048), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class NetworkMember(db.Model):
    """An organisation's membership of a network (a Group actor)."""

    __tablename__ = "network_members"
    __table_args__ = (UniqueConstraint("network_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DomainState(db.Model):
    """What the hub knows of a remote server's health, to pause delivery to failing domains."""

    __tablename__ = "domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
