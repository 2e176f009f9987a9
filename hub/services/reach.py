"""Where a post went: the inboxes it reached, for its later Update and Delete, and the staff's
delivery report, a page of servers at a time.

A post's deliveries are rows (one per inbox and activity) while they are fresh; retention then
folds the inboxes of the old finished ones into the post's PostReach, a compressed list, and
drops the rows (retention._fold_reached). A post to 10,000 followers on 1,000 servers keeps
7 kB there instead of 2,800 rows of about 200 bytes each (bench/README)."""

import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select

from hub.extensions import db
from hub.models import Delivery, OutgoingActivity, Post, PostReach
from hub.models.activity import DONE, FAILED, GONE, QUEUED
from hub.models.base import utcnow

SERVERS_PER_PAGE = 50


def encode(inboxes: set[str]) -> bytes:
    """The compressed form of a set of inbox URLs."""
    return zlib.compress("\n".join(sorted(inboxes)).encode())


def decode(blob: bytes) -> set[str]:
    """The inbox URLs of a compressed list."""
    text = zlib.decompress(blob).decode()
    return set(text.split("\n")) if text else set()


def pruned_inboxes(post_id: int) -> set[str]:
    """The inboxes whose delivery rows of this post were pruned."""
    blob = db.session.scalar(select(PostReach.inboxes).where(PostReach.post_id == post_id))
    return decode(blob) if blob is not None else set()


def add_pruned(post_id: int, inboxes: set[str]) -> None:
    """Fold these inboxes into the post's pruned list (the caller deletes their rows and commits)."""
    reach = db.session.scalar(select(PostReach).where(PostReach.post_id == post_id)
                              .execution_options(populate_existing=True))  # as committed, not as cached
    if reach is None:
        reach = PostReach(post_id=post_id)
        db.session.add(reach)
        merged = inboxes
    else:
        merged = decode(reach.inboxes) | inboxes
    reach.inboxes, reach.inbox_count, reach.updated_at = encode(merged), len(merged), utcnow()


def previous_inboxes(post: Post) -> list[str]:
    """Every inbox an activity about this post was sent to, pruned or not."""
    rows = db.session.scalars(_of_post(select(Delivery.inbox).distinct(), post))
    return sorted(set(rows) | pruned_inboxes(post.id))


# --- the staff's report ------------------------------------------------------------------------

@dataclass
class ActivitySummary:
    """One activity about a post (published, edited, deleted) and its deliveries by state."""

    type: str
    created_at: datetime
    counts: dict[str, int] = field(default_factory=lambda: {QUEUED: 0, DONE: 0, FAILED: 0, GONE: 0})

    @property
    def failed(self) -> int:
        """Deliveries given up on: failed after every retry, or the inbox is gone."""
        return self.counts[FAILED] + self.counts[GONE]


@dataclass
class DeliveryReport:
    """What staff see of a post's delivery: a summary per activity and one page of servers."""

    activities: list[ActivitySummary]
    servers: list[dict]
    server_count: int
    page: int
    pages: int
    pruned_inboxes: int

    @property
    def sent_anything(self) -> bool:
        """False when no server was sent this post at all (nobody follows the organisation)."""
        return bool(self.activities or self.pruned_inboxes)


def _of_post(query, post: Post):
    """The query restricted to the deliveries of activities about this post."""
    return (query.select_from(Delivery).join(OutgoingActivity, OutgoingActivity.id == Delivery.activity_id)
            .where(OutgoingActivity.post_id == post.id))


def _activity_summaries(post: Post) -> list[ActivitySummary]:
    activity = (OutgoingActivity.id, OutgoingActivity.type, OutgoingActivity.created_at)
    rows = db.session.execute(_of_post(select(*activity, Delivery.state, func.count()), post)
                              .group_by(*activity, Delivery.state).order_by(OutgoingActivity.id))
    summaries: dict[int, ActivitySummary] = {}
    for activity_id, activity_type, created_at, state, count in rows:
        summary = summaries.setdefault(activity_id, ActivitySummary(activity_type, created_at))
        summary.counts[state] = count
    return list(summaries.values())


def _count(state_filter):
    return func.sum(case((state_filter, 1), else_=0))


def _server_rows(post: Post, offset: int) -> list[dict]:
    """Servers with deliveries given up on first, then those still waiting, then by name."""
    unfinished = Delivery.state != DONE
    failed = _count(Delivery.state.in_((FAILED, GONE)))
    queued = _count(Delivery.state == QUEUED)
    columns = select(Delivery.domain, _count(Delivery.state == DONE), queued, failed,
                     func.max(Delivery.attempts), func.max(case((unfinished, Delivery.last_status))),
                     func.max(case((unfinished, Delivery.last_error))),
                     func.min(case((Delivery.state == QUEUED, Delivery.next_attempt_at))))
    query = (_of_post(columns, post).group_by(Delivery.domain)
             .order_by(failed.desc(), queued.desc(), Delivery.domain).offset(offset).limit(SERVERS_PER_PAGE))
    keys = ("host", "done", "queued", "failed", "attempts", "last_status", "last_error", "next_attempt_at")
    return [dict(zip(keys, row, strict=True)) for row in db.session.execute(query)]


def delivery_report(post: Post, page: int = 1) -> DeliveryReport:
    """The post's deliveries: counts per activity, and page `page` of the servers they went to."""
    server_count = db.session.scalar(_of_post(select(func.count(Delivery.domain.distinct())), post)) or 0
    pages = max(1, math.ceil(server_count / SERVERS_PER_PAGE))
    page = min(max(page, 1), pages)
    pruned = db.session.scalar(select(PostReach.inbox_count).where(PostReach.post_id == post.id)) or 0
    return DeliveryReport(activities=_activity_summaries(post),
                          servers=_server_rows(post, (page - 1) * SERVERS_PER_PAGE),
                          server_count=server_count, page=page, pages=pages, pruned_inboxes=pruned)
