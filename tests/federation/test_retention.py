"""Retention: processed received activities and finished deliveries go once they are old enough,
in batches and within a time budget, while queued work and the audience of every post still
shown stay, so that deleting an old post still reaches everyone it went to."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub import worker
from hub.extensions import db
from hub.models import Actor, Delivery, Follow, InboxItem, OutgoingActivity, Post, PostReach
from hub.models.activity import DONE, FAILED, QUEUED
from hub.models.base import utcnow
from hub.services import delivery, posts, reach, retention

DAY = timedelta(days=1)


def remote_follower(org, handle, host):
    """A remote actor with a personal inbox only, following org (accepted)."""
    actor = Actor(type="Person", handle=handle, domain=host, uri=f"https://{host}/users/{handle}",
                  inbox=f"https://{host}/users/{handle}/inbox")
    db.session.add(actor)
    db.session.flush()
    db.session.add(Follow(follower_id=actor.id, target_id=org.id, state=Follow.ACCEPTED))
    db.session.commit()
    return actor


def received(uri, state, days_ago):
    """An inbox item received, and (unless queued) processed, `days_ago` days ago."""
    when = utcnow() - days_ago * DAY
    db.session.add(InboxItem(activity_uri=uri, type="Create", actor_uri="https://x.example/users/a",
                             payload='{"type":"Create"}', state=state, next_attempt_at=when,
                             received_at=when, processed_at=None if state == QUEUED else when))
    db.session.commit()


def sent(org, n, days_ago, states=(DONE,), post=None):
    """An activity sent `days_ago` days ago, with one delivery in each of `states`."""
    inboxes = [f"https://s{n}-{i}.example/inbox" for i in range(len(states))]
    activity = {"id": f"{org.uri}/activities/{n}", "type": "Accept", "actor": org.uri}
    outgoing = delivery.enqueue(activity, org, inboxes, post=post)
    for inbox, state in zip(inboxes, states, strict=True):
        db.session.execute(update(Delivery).where(Delivery.inbox == inbox).values(state=state))
    db.session.commit()
    age(outgoing.id, days_ago)
    return outgoing.id


def age(activity_id, days_ago):
    """Move an activity and its deliveries `days_ago` days into the past (queued ones as if the
    worker had been stopped since)."""
    when = utcnow() - days_ago * DAY
    db.session.execute(update(OutgoingActivity).where(OutgoingActivity.id == activity_id)
                       .values(created_at=when))
    db.session.execute(update(Delivery).where(Delivery.activity_id == activity_id)
                       .values(created_at=when, next_attempt_at=when))
    db.session.commit()


def activities_of(post):
    return db.session.scalars(select(OutgoingActivity.id).where(OutgoingActivity.post_id == post.id)).all()


def remaining(column):
    return sorted(db.session.scalars(select(column)).all())


def budget_spent_when(monkeypatch, spent):
    """Make a pass's budget run out (the pass unfinished) as soon as `spent(pruned)` is true."""
    def out_of_time(pruned):
        if not spent(pruned):
            return False
        pruned.finished = False
        return True

    monkeypatch.setattr(retention.Pruned, "out_of_time", out_of_time)


@pytest.fixture
def org(make_org):
    return make_org("lao_cso", "ອົງການທົດລອງ")


def test_processed_received_activities_go_after_their_days_and_the_rest_stay(app):
    received("https://x.example/old-done", DONE, 8)
    received("https://x.example/old-failed", FAILED, 8)
    received("https://x.example/recent-done", DONE, 6)
    received("https://x.example/old-but-queued", QUEUED, 30)
    pruned = retention.prune()
    assert (pruned.received, pruned.finished) == (2, True)
    assert remaining(InboxItem.activity_uri) == [
        "https://x.example/old-but-queued", "https://x.example/recent-done"]
    app.config["HUB_KEEP_RECEIVED_DAYS"] = 5.0
    assert retention.prune().received == 1
    assert remaining(InboxItem.activity_uri) == ["https://x.example/old-but-queued"]


def test_finished_deliveries_of_activities_without_a_post_go_with_their_activity(org):
    old = sent(org, 1, 40, (DONE, FAILED))
    stuck = sent(org, 2, 40, (DONE, QUEUED))
    recent = sent(org, 3, 20)
    pruned = retention.prune()
    assert (pruned.deliveries, pruned.activities) == (3, 1)
    assert remaining(OutgoingActivity.id) == [stuck, recent]
    assert remaining(Delivery.inbox) == ["https://s2-1.example/inbox", "https://s3-0.example/inbox"]
    assert db.session.get(OutgoingActivity, old) is None


def test_an_old_post_keeps_its_audience_and_its_delete_still_reaches_a_former_follower(org, make_user):
    staying = remote_follower(org, "stays", "stays.example")
    leaving = remote_follower(org, "leaves", "leaves.example")
    post = posts.publish_as_operator(org, "ນ້ຳຖ້ວມບ້ານນາໄຊ ກະລຸນາຍ້າຍໄປບ່ອນສູງ")
    (create,) = activities_of(post)
    db.session.execute(update(Delivery).values(state=DONE))
    age(create, 400)
    db.session.execute(Follow.__table__.delete().where(Follow.follower_id == leaving.id))
    db.session.commit()

    pruned = retention.prune()
    assert (pruned.deliveries, pruned.folded, pruned.activities) == (0, 2, 1)
    assert remaining(Delivery.id) == [] and activities_of(post) == []
    assert reach.pruned_inboxes(post.id) == {leaving.inbox, staying.inbox}
    posts.delete(db.session.get(Post, post.id), make_user("owner@cso.la", org=org))
    delete_id = max(activities_of(post))
    assert sorted(db.session.scalars(select(Delivery.inbox).where(Delivery.activity_id == delete_id))) == [
        leaving.inbox, staying.inbox]


def test_an_edit_after_folding_reaches_the_old_inboxes_and_the_new_ones(org, make_user):
    old_reader = remote_follower(org, "old", "old.example")
    post = posts.publish_as_operator(org, "ກອງທຶນຊ່ວຍເຫຼືອຜູ້ປະສົບໄພ")
    (create,) = activities_of(post)
    db.session.execute(update(Delivery).values(state=DONE))
    age(create, 40)
    db.session.execute(Follow.__table__.delete())
    new_reader = remote_follower(org, "new", "new.example")
    assert retention.prune().folded == 1
    posts.edit(db.session.get(Post, post.id), make_user("owner@cso.la", org=org), "ກອງທຶນຊ່ວຍເຫຼືອ (ແກ້ໄຂ)")
    update_id = max(activities_of(post))
    assert sorted(db.session.scalars(select(Delivery.inbox).where(Delivery.activity_id == update_id))) == [
        new_reader.inbox, old_reader.inbox]


def test_recent_and_unfinished_deliveries_of_a_post_are_not_folded(org):
    post = Post(actor_id=org.id, source="x", state="published")
    db.session.add(post)
    db.session.commit()
    old = sent(org, 1, 40, (DONE, QUEUED, FAILED), post=post)
    sent(org, 2, 20, (DONE,), post=post)
    pruned = retention.prune()
    assert (pruned.deliveries, pruned.folded, pruned.activities) == (0, 2, 0)
    assert reach.pruned_inboxes(post.id) == {"https://s1-0.example/inbox", "https://s1-2.example/inbox"}
    assert remaining(Delivery.inbox) == ["https://s1-1.example/inbox", "https://s2-0.example/inbox"]
    assert sorted(activities_of(post)) == [old, old + 1]
    every = [f"https://s{n}.example/inbox" for n in ("1-0", "1-1", "1-2", "2-0")]
    assert reach.previous_inboxes(post) == every


def test_folding_goes_in_batches_and_an_activity_goes_only_once_every_row_is_folded(org, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    post = Post(actor_id=org.id, source="x", state="published")
    db.session.add(post)
    db.session.commit()
    sent(org, 1, 40, (DONE,) * 5, post=post)
    budget_spent_when(monkeypatch, lambda pruned: pruned.folded >= 4)  # after two batches of the fold
    pruned = retention.prune(budget=60)
    assert (pruned.folded, pruned.activities, pruned.finished) == (4, 0, False)
    assert len(reach.pruned_inboxes(post.id)) == 4 and len(activities_of(post)) == 1
    monkeypatch.undo()
    pruned = retention.prune()
    assert (pruned.folded, pruned.activities, pruned.finished) == (1, 1, True)
    assert reach.pruned_inboxes(post.id) == {f"https://s1-{i}.example/inbox" for i in range(5)}
    assert db.session.get(PostReach, post.id).inbox_count == 5


def test_a_post_another_worker_is_folding_is_left_to_it(app, org):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: SQLite takes one writer at a time, and the hub runs one worker there")
    post = Post(actor_id=org.id, source="x", state="published")
    db.session.add(post)
    db.session.commit()
    sent(org, 1, 40, (DONE, DONE), post=post)
    with db.engine.connect() as other_worker:
        other_worker.execute(select(Post.id).where(Post.id == post.id).with_for_update(key_share=True))
        pruned = retention.prune()
        assert (pruned.folded, pruned.activities) == (0, 0)
        assert len(remaining(Delivery.id)) == 2 and reach.pruned_inboxes(post.id) == set()
        other_worker.rollback()
    assert retention.prune().folded == 2
    assert len(reach.pruned_inboxes(post.id)) == 2


def test_the_reach_of_a_post_deleted_long_ago_goes_too(org, make_user):
    remote_follower(org, "reader", "reader.example")
    user = make_user("owner@cso.la", org=org)
    post = posts.publish_as_operator(org, "ຂ່າວທີ່ຈະລຶບ")
    (create,) = activities_of(post)
    db.session.execute(update(Delivery).values(state=DONE))
    age(create, 40)
    assert retention.prune().folded == 1
    posts.delete(db.session.get(Post, post.id), user)
    db.session.execute(update(Delivery).values(state=DONE))
    db.session.commit()
    assert retention.prune().deliveries == 0 and db.session.get(PostReach, post.id) is not None
    db.session.execute(update(Post).where(Post.id == post.id).values(deleted_at=utcnow() - 40 * DAY))
    for activity_id in activities_of(post):
        age(activity_id, 40)
    pruned = retention.prune()
    assert (pruned.deliveries, pruned.activities) == (1, 1)
    db.session.expire_all()
    assert db.session.get(PostReach, post.id) is None and remaining(Delivery.id) == []


def test_a_post_deleted_long_ago_loses_its_activities_and_deliveries(org, make_user):
    remote_follower(org, "reader", "reader.example")
    user = make_user("owner@cso.la", org=org)
    old_post = posts.publish_as_operator(org, "ຂ່າວເກົ່າ")
    new_post = posts.publish_as_operator(org, "ຂ່າວໃໝ່")
    for post in (old_post, new_post):
        posts.delete(db.session.get(Post, post.id), user)
    db.session.execute(update(Delivery).values(state=DONE))
    db.session.execute(update(Post).where(Post.id == old_post.id).values(deleted_at=utcnow() - 40 * DAY))
    for activity_id in activities_of(old_post):
        age(activity_id, 40)
    for activity_id in activities_of(new_post):
        age(activity_id, 40)  # sent long ago, but the post was deleted only now: kept for now
    pruned = retention.prune()
    assert (pruned.deliveries, pruned.activities) == (2, 2)
    assert activities_of(db.session.get(Post, old_post.id)) == []
    assert len(activities_of(db.session.get(Post, new_post.id))) == 2


def test_the_boost_of_a_remote_post_goes_whole_without_a_reach(org):
    author = remote_follower(org, "author", "author.example")
    remote = Post(actor_id=author.id, uri="https://author.example/notes/1", local=False,
                  content_html="<p>ຂ່າວ</p>", state="published", published_at=utcnow())
    db.session.add(remote)
    db.session.commit()
    announce = sent(org, 1, 40, (DONE, DONE), post=remote)
    pruned = retention.prune()
    assert (pruned.deliveries, pruned.activities, pruned.folded) == (2, 1, 0)
    assert db.session.get(OutgoingActivity, announce) is None
    assert db.session.get(PostReach, remote.id) is None


def test_a_pass_stops_when_its_budget_is_spent_and_the_next_one_goes_on(app, org, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    for n in range(5):
        received(f"https://x.example/{n}", DONE, 10)
    sent(org, 1, 40, (DONE,) * 5)
    out_of_time = retention.prune(budget=0)
    assert (out_of_time.received, out_of_time.deliveries, out_of_time.finished) == (0, 0, False)
    pruned = retention.prune()
    assert (pruned.received, pruned.deliveries, pruned.activities, pruned.finished) == (5, 5, 1, True)
    assert remaining(InboxItem.id) == [] and remaining(Delivery.id) == []


def test_no_activity_goes_once_the_budget_ran_out_during_their_deliveries(app, org, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    ids = [sent(org, n, 40) for n in range(3)]
    budget_spent_when(monkeypatch, lambda _pruned: len(remaining(Delivery.id)) < 3)  # once the first went
    pruned = retention.prune(budget=60)
    assert (pruned.deliveries, pruned.activities, pruned.finished) == (2, 0, False)
    assert remaining(OutgoingActivity.id) == ids
    monkeypatch.undo()
    pruned = retention.prune()
    assert (pruned.deliveries, pruned.activities, pruned.finished) == (1, 3, True)
    assert remaining(OutgoingActivity.id) == []


def test_the_worker_prunes_as_it_starts_then_every_ten_minutes_idle_or_busy(app):
    received("https://x.example/first", DONE, 10)
    pruning = worker.Pruning()
    pruning.run_if_due(idle=False)
    assert remaining(InboxItem.activity_uri) == []
    received("https://x.example/second", DONE, 10)
    pruning.run_if_due(idle=True)
    pruning.run_if_due(idle=False)
    assert remaining(InboxItem.activity_uri) == ["https://x.example/second"]
    pruning.last -= worker.PRUNE_SECONDS
    pruning.run_if_due(idle=False)
    assert remaining(InboxItem.activity_uri) == []
    received("https://x.example/third", DONE, 10)
    pruning.last -= worker.PRUNE_SECONDS - 1
    pruning.run_if_due(idle=True)
    assert remaining(InboxItem.activity_uri) == ["https://x.example/third"]
    pruning.last -= 2
    pruning.run_if_due(idle=True)
    assert remaining(InboxItem.activity_uri) == []


def test_hub_prune_says_what_went(app, org):
    received("https://x.example/old", DONE, 8)
    sent(org, 1, 40)
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "received=1 deliveries=1 activities=1 folded=0"


def test_a_pass_cut_short_goes_on_in_the_next_idle_round(app, monkeypatch):
    received("https://x.example/backlog", DONE, 10)
    pruning = worker.Pruning()
    monkeypatch.setattr(worker, "PRUNE_BUDGET", 0)
    pruning.run_if_due(idle=True)
    monkeypatch.setattr(worker, "PRUNE_BUDGET", 5)
    pruning.run_if_due(idle=False)
    assert remaining(InboxItem.activity_uri) == ["https://x.example/backlog"]
    pruning.run_if_due(idle=True)
    assert remaining(InboxItem.activity_uri) == []


def test_a_busy_worker_goes_on_with_a_backlog_at_a_small_share_of_its_time(app, monkeypatch):
    received("https://x.example/backlog", DONE, 10)
    pruning = worker.Pruning()
    monkeypatch.setattr(worker, "PRUNE_BUDGET", 0)
    pruning.run_if_due(idle=False)  # as it starts, cut short: a backlog
    monkeypatch.setattr(worker, "PRUNE_BUDGET", 5)
    gap = worker.PRUNE_BUDGET / worker.PRUNE_BUSY_SHARE
    assert gap < worker.PRUNE_SECONDS
    pruning.last -= gap - 1
    pruning.run_if_due(idle=False)
    assert remaining(InboxItem.activity_uri) == ["https://x.example/backlog"]
    pruning.last -= 2
    pruning.run_if_due(idle=False)
    assert remaining(InboxItem.activity_uri) == []
    received("https://x.example/later", DONE, 10)
    pruning.last -= gap + 1
    pruning.run_if_due(idle=True)  # the last pass finished: the next waits for PRUNE_SECONDS
    assert remaining(InboxItem.activity_uri) == ["https://x.example/later"]
