"""Federation bookkeeping: outgoing activities and their deliveries, received activities."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import utcnow

QUEUED = "queued"
DONE = "done"
FAILED = "failed"
GONE = "gone"


class OutgoingActivity(db.Model):
    """An activity we sent, serialised once; its deliveries fan out from here."""

    __tablename__ = "outgoing_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    actor = relationship("Actor")


class Delivery(db.Model):
    """One activity to one inbox (a shared inbox serves every follower on its server)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("outgoing_activities.id", ondelete="CASCADE"), index=True
    )
    inbox: Mapped[str] = mapped_column(String(2048))
    domain: Mapped[str] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    # The claiming worker's id; on PostgreSQL it holds an advisory lock on that id while alive.
    locked_by: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)

    activity = relationship("OutgoingActivity")


class PostReach(db.Model):
    """The inboxes a post reached whose delivery rows retention has pruned: one compressed list per
    post instead of a row per inbox, so that the post's Update or Delete still reaches them."""

    __tablename__ = "post_reach"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    inbox_count: Mapped[int] = mapped_column(Integer, default=0)
    inboxes: Mapped[bytes] = mapped_column(LargeBinary)  # zlib of the sorted URLs, one per line
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class InboxItem(db.Model):
    """A received, signature-verified activity waiting for (or done with) processing."""

    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    actor_uri: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Notification(db.Model):
    """Something staff of an organisation should see: follows, replies, boosts, likes, mentions."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    from_actor = relationship("Actor", foreign_keys=[from_actor_id])
    post = relationship("Post")


class Report(db.Model):
    """A Flag received from another server, for the moderation list."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str | None] = mapped_column(String(2048), unique=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="SET NULL"))
    content: Mapped[str] = mapped_column(Text, default="")
    object_uris: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
