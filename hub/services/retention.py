"""Retention: how long the hub keeps its federation bookkeeping once it has served its purpose.

Every received activity is stored whole (inbox_items), every sent activity keeps its payload
(outgoing_activities) and every delivery is a row (deliveries). Left alone they grow with every
activity received and every post, until a small server's disk is full, and they keep what people
at risk would rather not leave behind (minimal data). Pruned, a little at a time:

- received activities processed (done or failed) more than HUB_KEEP_RECEIVED_DAYS ago. A later
  copy of one is then processed again instead of being recognised: harmless, since handling an
  activity twice changes nothing (each handler ignores what it knows already) and a captured
  request's signature is refused an hour after its Date;
- finished deliveries (done, gone, failed) older than HUB_KEEP_DELIVERIES_DAYS of activities that
  are not about a post, about a remote post (boosts), or about a post deleted before then; then
  those activities, once no delivery of theirs is left;
- finished deliveries older than HUB_KEEP_DELIVERIES_DAYS of one of our posts not deleted. Its
  Update or Delete must still reach every inbox it went to, so their inboxes are first folded
  into the post's compressed PostReach (hub.services.reach), which reach.previous_inboxes reads
  with the rows left; then the post's activities left without deliveries go. A deleted post's
  PostReach goes with its deliveries: its Delete was queued to every inbox on it.

Kept whatever their age: queued work.

Rows go in batches of BATCH, each its own short transaction, so that on SQLite the web processes'
inbox writes never wait long for the lock; `prune` stops after its time budget and says whether
it finished, so the worker can prune between deliveries without holding them up.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, exists, or_, select

from hub.extensions import db
from hub.models import Delivery, InboxItem, OutgoingActivity, Post, PostReach
from hub.models.activity import DONE, FAILED, GONE
from hub.models.base import utcnow
from hub.models.post import DELETED
from hub.services import reach

BATCH = 1000  # rows per DELETE: about 15 ms of SQLite's write lock each, measured (bench/README)
FINISHED_DELIVERIES = (DONE, GONE, FAILED)
PROCESSED_ITEMS = (DONE, FAILED)
_PLAIN = {"synchronize_session": False}  # the rows are not in the session: nothing to update there


@dataclass
class Pruned:
    """What one pruning pass removed, and whether it reached the end before its budget ran out."""

    received: int = 0
    deliveries: int = 0
    activities: int = 0
    folded: int = 0  # delivery rows of live posts whose inboxes went into their PostReach
    finished: bool = True
    deadline: float = field(default=float("inf"), repr=False)

    def out_of_time(self) -> bool:
        """True (and the pass counted as unfinished) once the budget is spent."""
        if time.monotonic() < self.deadline:
            return False
        self.finished = False
        return True


def cutoffs(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The times before which processed received activities and finished deliveries may go."""
    now = now or utcnow()
    config = current_app.config
    return (now - timedelta(days=config["HUB_KEEP_RECEIVED_DAYS"]),
            now - timedelta(days=config["HUB_KEEP_DELIVERIES_DAYS"]))


def prune(budget: float | None = None, now: datetime | None = None) -> Pruned:
    """Delete what is past its retention, for at most `budget` seconds (None: until done)."""
    received_before, deliveries_before = cutoffs(now)
    pruned = Pruned(deadline=time.monotonic() + budget if budget is not None else float("inf"))
    _prune_received(received_before, pruned)
    _prune_sent(deliveries_before, pruned)
    _fold_reached(deliveries_before, pruned)
    _prune_reach_of_deleted(deliveries_before, pruned)
    return pruned


def _prune_received(before: datetime, pruned: Pruned) -> None:
    # next_attempt_at first: the due index (state, next_attempt_at) then finds the old rows alone.
    old = (select(InboxItem.id)
           .where(InboxItem.state.in_(PROCESSED_ITEMS), InboxItem.next_attempt_at < before,
                  InboxItem.processed_at < before)
           .limit(BATCH))
    pruned.received += _delete_in_batches(old, InboxItem, pruned)


def _delete_in_batches(old_ids, model, pruned: Pruned) -> int:
    """Delete the rows `old_ids` selects, BATCH at a time, each batch its own transaction, until
    none is left or the budget is spent; how many went."""
    deleted = 0
    while not pruned.out_of_time():
        ids = db.session.scalars(old_ids).all()
        if not ids:
            break
        db.session.execute(delete(model).where(model.id.in_(ids)), execution_options=_PLAIN)
        db.session.commit()
        deleted += len(ids)
    return deleted


def _prunable_activities(before: datetime, after_id: int):
    """Activities (ids above after_id) sent before `before` and not about a post of ours still
    shown: boosts of remote posts go too, as the hub never sends an Update or Delete of those."""
    post_gone = exists().where(Post.id == OutgoingActivity.post_id, Post.state == DELETED,
                               Post.deleted_at < before)
    post_remote = exists().where(Post.id == OutgoingActivity.post_id, Post.local.is_(False))
    return (select(OutgoingActivity.id)
            .where(OutgoingActivity.id > after_id, OutgoingActivity.created_at < before,
                   or_(OutgoingActivity.post_id.is_(None), post_gone, post_remote))
            .order_by(OutgoingActivity.id).limit(BATCH))


def _prune_sent(before: datetime, pruned: Pruned) -> None:
    """Up to BATCH prunable activities at a time: their old finished deliveries, then those of them
    left without any, each step one statement (not one per activity: most activities, accepts and
    likes, have a single delivery)."""
    last_id = 0
    while not pruned.out_of_time():
        activity_ids = db.session.scalars(_prunable_activities(before, last_id)).all()
        db.session.rollback()  # nothing written yet: end the read's transaction (PostgreSQL)
        if not activity_ids:
            return
        old = select(Delivery.id).where(Delivery.activity_id.in_(activity_ids), _finished_before(before))
        pruned.deliveries += _delete_in_batches(old.limit(BATCH), Delivery, pruned)
        if not pruned.finished:  # out of time: the activities wait for the next pass
            return
        _drop_activities_left_empty(pruned, OutgoingActivity.id.in_(activity_ids))
        last_id = activity_ids[-1]


def _finished_before(before: datetime):
    """Deliveries finished (done, gone, failed) and last tried before `before`."""
    return and_(Delivery.state.in_(FINISHED_DELIVERIES), Delivery.next_attempt_at < before)


def _drop_activities_left_empty(pruned: Pruned, *which) -> None:
    """Delete the activities `which` selects that have no delivery left, in one statement."""
    left = exists().where(Delivery.activity_id == OutgoingActivity.id)
    removed = db.session.execute(delete(OutgoingActivity).where(*which, ~left), execution_options=_PLAIN)
    db.session.commit()
    pruned.activities += removed.rowcount or 0


def _old_finished(before: datetime):
    """Deliveries finished before `before` of activities sent before then (joined to them)."""
    return and_(_finished_before(before), OutgoingActivity.created_at < before)


def _posts_to_fold(before: datetime, after_id: int):
    """Our posts not deleted (ids above after_id) with old finished deliveries, BATCH at a time.
    Their activities are scanned, not the deliveries: a post has one row of the first per edit
    and one of the second per inbox."""
    old_finished = exists().where(Delivery.activity_id == OutgoingActivity.id, _finished_before(before))
    return (select(OutgoingActivity.post_id)
            .join(Post, Post.id == OutgoingActivity.post_id)
            .where(OutgoingActivity.post_id > after_id, OutgoingActivity.created_at < before,
                   Post.local.is_(True), Post.state != DELETED, old_finished)
            .group_by(OutgoingActivity.post_id).order_by(OutgoingActivity.post_id).limit(BATCH))


def _fold_reached(before: datetime, pruned: Pruned) -> None:
    """Fold the old finished deliveries of posts still shown into their PostReach."""
    last_id = 0
    while not pruned.out_of_time():
        post_ids = db.session.scalars(_posts_to_fold(before, last_id)).all()
        db.session.rollback()
        if not post_ids:
            return
        for post_id in post_ids:
            _fold_post(post_id, before, pruned)
            if not pruned.finished:
                return
        last_id = post_ids[-1]


def _fold_post(post_id: int, before: datetime, pruned: Pruned) -> None:
    """One post: BATCH delivery rows at a time, their inboxes added to its PostReach and the rows
    deleted in the same transaction; then its old activities left without any delivery."""
    of_post = (select(Delivery.id, Delivery.inbox)
               .join(OutgoingActivity, OutgoingActivity.id == Delivery.activity_id)
               .where(OutgoingActivity.post_id == post_id, _old_finished(before)).limit(BATCH))
    while not pruned.out_of_time():
        if not _lock_post(post_id):  # another worker is folding it (two would lose each other's inboxes)
            db.session.rollback()
            return
        rows = db.session.execute(of_post).all()
        if not rows:
            db.session.rollback()
            break
        reach.add_pruned(post_id, {inbox for _id, inbox in rows})
        db.session.execute(delete(Delivery).where(Delivery.id.in_([row_id for row_id, _ in rows])),
                           execution_options=_PLAIN)
        db.session.commit()
        pruned.folded += len(rows)
    if not pruned.finished:
        return
    _drop_activities_left_empty(pruned, OutgoingActivity.post_id == post_id,
                                OutgoingActivity.created_at < before)


def _lock_post(post_id: int) -> bool:
    """Lock the post's row until the transaction ends, unless another transaction holds it (then
    False). On PostgreSQL only: FOR NO KEY UPDATE, so that inserting an activity that refers to the
    post does not wait. SQLite takes one writer at a time anyway, and the hub runs one worker there."""
    locked = select(Post.id).where(Post.id == post_id).with_for_update(skip_locked=True, key_share=True)
    return db.session.scalar(locked) is not None


def _prune_reach_of_deleted(before: datetime, pruned: Pruned) -> None:
    """The PostReach of posts deleted before `before`: their Delete went to every inbox on it."""
    if pruned.out_of_time():
        return
    deleted = select(Post.id).where(Post.state == DELETED, Post.deleted_at < before)
    db.session.execute(delete(PostReach).where(PostReach.post_id.in_(deleted)), execution_options=_PLAIN)
    db.session.commit()
