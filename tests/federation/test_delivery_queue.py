"""The delivery outbox without the network: enqueue, follower inboxes, claiming, recording."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.extensions import db
from hub.models import Actor, Delivery, DomainState, Follow, OutgoingActivity
from hub.models.base import utcnow
from hub.services import delivery


@dataclass
class Outcome:
    """What federation.delivery reports for one job (same attribute names)."""

    job_id: int
    kind: str
    status: int | None = None
    retry_after: float | None = None
    error: str = ""


def remote(handle, host, shared=True, gone=False):
    """A remote actor on host, with a shared inbox unless shared=False."""
    actor = Actor(type="Person", handle=handle, domain=host, uri=f"https://{host}/users/{handle}",
                  inbox=f"https://{host}/users/{handle}/inbox",
                  shared_inbox=f"https://{host}/inbox" if shared else None, gone=gone)
    db.session.add(actor)
    return actor


def follow(follower, target, state=Follow.ACCEPTED):
    db.session.add(Follow(follower_id=follower.id, target_id=target.id, state=state))


def activity(org, n=1):
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{org.uri}/activities/{n}",
            "type": "Create", "actor": org.uri, "object": {"type": "Note", "content": "ສະບາຍດີ"}}


@pytest.fixture
def org(make_org):
    return make_org()


def test_follower_inboxes_are_distinct_shared_first_and_only_accepted_remote(org, make_org):
    other = make_org("other_cso", "Other")
    a, b = remote("a", "masto.example"), remote("b", "masto.example")
    c = remote("c", "solo.example", shared=False)
    pending, dead = remote("p", "pending.example"), remote("d", "dead.example", gone=True)
    db.session.flush()
    for follower in (a, b, c, dead):
        follow(follower, org)
    follow(pending, org, Follow.PENDING)
    follow(other, org)
    db.session.commit()
    assert sorted(delivery.follower_inboxes(org)) == [
        "https://masto.example/inbox", "https://solo.example/users/c/inbox"]


def test_enqueue_one_row_per_distinct_inbox_skipping_own_blocked_and_invalid(org):
    db.session.add(DomainState(domain="blocked.example", blocked=True))
    inboxes = ["https://Masto.Example./inbox", "https://Masto.Example./inbox", None, "",
               "https://hub.test/inbox", "http://hub.test:80/actors/x/inbox", "https://blocked.example/inbox",
               "ftp://files.example/inbox", "https://solo.example:8443/users/c/inbox"]
    out = delivery.enqueue(activity(org), org, inboxes)
    db.session.commit()
    rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [(r.inbox, r.domain, r.state) for r in rows] == [
        ("https://Masto.Example./inbox", "masto.example", "queued"),
        ("https://solo.example:8443/users/c/inbox", "solo.example:8443", "queued")]
    assert out.payload == delivery.serialise(activity(org))
    assert '"content":"ສະບາຍດີ"' in out.payload


def test_enqueue_queues_each_servers_first_inbox_before_any_servers_second(org):
    inboxes = [f"https://a.example/users/{n}/inbox" for n in range(3)] + ["https://b.example/inbox"] \
        + [f"https://c.example/users/{n}/inbox" for n in range(2)]
    delivery.enqueue(activity(org), org, inboxes)
    db.session.commit()
    rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [r.inbox.split("/", 2)[2] for r in rows] == [
        "a.example/users/0/inbox", "b.example/inbox", "c.example/users/0/inbox",
        "a.example/users/1/inbox", "c.example/users/1/inbox", "a.example/users/2/inbox"]
    claimed = delivery.claim_due(limit=3)
    assert sorted(r.domain for r in claimed) == ["a.example", "b.example", "c.example"]


def test_enqueue_does_not_commit_so_a_rollback_loses_post_and_deliveries_together(org):
    delivery.enqueue(activity(org), org, ["https://masto.example/inbox"])
    db.session.rollback()
    assert db.session.scalar(select(OutgoingActivity)) is None
    assert db.session.scalar(select(Delivery)) is None


def test_enqueue_same_activity_again_adds_only_new_inboxes(org):
    delivery.enqueue(activity(org), org, ["https://a.example/inbox"])
    delivery.enqueue(activity(org), org, ["https://a.example/inbox", "https://b.example/inbox"])
    db.session.commit()
    assert sorted(db.session.scalars(select(Delivery.domain))) == ["a.example", "b.example"]


def test_claim_locks_rows_skips_paused_domains_and_expired_locks_come_back(org):
    delivery.enqueue(activity(org), org, ["https://a.example/inbox", "https://b.example/inbox",
                                          "https://paused.example/inbox"])
    db.session.add(DomainState(domain="paused.example", paused_until=utcnow() + timedelta(hours=1)))
    db.session.commit()
    first = delivery.claim_due(limit=10)
    assert sorted(d.domain for d in first) == ["a.example", "b.example"]
    assert delivery.claim_due(limit=10) == []
    db.session.execute(Delivery.__table__.update().values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert len(delivery.claim_due(limit=10)) == 2


def test_record_results_done_retry_gone_failed_and_marks_personal_inbox_owner_gone(org):
    personal = remote("c", "solo.example", shared=False)
    shared_user = remote("s", "masto.example")
    db.session.flush()
    delivery.enqueue(activity(org), org, ["https://ok.example/inbox", "https://busy.example/inbox",
                                          personal.inbox, shared_user.shared_inbox,
                                          "https://bad.example/inbox"])
    db.session.commit()
    claimed = {d.id: d for d in delivery.claim_due()}
    by_domain = {d.domain: d.id for d in claimed.values()}
    counts = delivery.record_results(claimed, [
        Outcome(by_domain["ok.example"], "ok", 202),
        Outcome(by_domain["busy.example"], "retry", 503, retry_after=3600),
        Outcome(by_domain["solo.example"], "gone", 410),
        Outcome(by_domain["masto.example"], "gone", 410),
        Outcome(by_domain["bad.example"], "failed", 403),
    ])
    db.session.commit()
    assert counts == {"ok": 1, "retry": 1, "gone": 2, "failed": 1, "deferred": 0}
    rows = {d.domain: d for d in db.session.scalars(select(Delivery))}
    assert rows["ok.example"].state == "done" and rows["ok.example"].delivered_at is not None
    busy = rows["busy.example"]
    assert (busy.state, busy.attempts, busy.last_status) == ("queued", 1, 503)
    assert busy.next_attempt_at >= utcnow() + timedelta(seconds=3590)
    assert rows["solo.example"].state == "gone" and rows["bad.example"].state == "failed"
    assert all(d.locked_until is None and d.locked_by is None for d in rows.values())  # claims released
    assert rows["ok.example"].last_error == "" and rows["ok.example"].attempts == 1
    db.session.refresh(personal)
    db.session.refresh(shared_user)
    assert personal.gone is True and shared_user.gone is False


def test_retry_gives_up_after_max_attempts(org):
    delivery.enqueue(activity(org), org, ["https://busy.example/inbox"])
    db.session.commit()
    row = db.session.scalar(select(Delivery))
    row.attempts = delivery.MAX_ATTEMPTS - 1
    db.session.commit()
    claimed = {d.id: d for d in delivery.claim_due()}
    delivery.record_results(claimed, [Outcome(row.id, "retry", 503)])
    db.session.commit()
    db.session.refresh(row)
    assert (row.state, row.attempts) == ("failed", delivery.MAX_ATTEMPTS)


def test_retry_schedule_spans_about_three_days_and_grows(app):
    total = delivery.schedule_total()
    assert timedelta(days=2.5) < timedelta(seconds=total) < timedelta(days=3.5)
    app.config["HUB_DELIVERY_RETRY_BASE"] = delivery.RETRY_BASE_SECONDS
    delays = [delivery.retry_delay(n) for n in range(1, 12)]
    assert all(later > earlier for earlier, later in zip(delays[:5], delays[1:6], strict=True))
    assert delivery.retry_delay(1, retry_after=7200) >= 7200


def test_domain_health_pauses_growing_and_success_resets(app):
    first = delivery.record_domain_health([], ["dead.example"])["dead.example"]
    second = delivery.record_domain_health([], ["dead.example"])["dead.example"]
    db.session.commit()
    state = db.session.get(DomainState, "dead.example")
    assert state.consecutive_failures == 2 and second > first
    assert delivery.suspect_domains(["dead.example", "fine.example"]) == {"dead.example"}
    delivery.record_domain_health(["dead.example"], [])
    db.session.commit()
    db.session.refresh(state)
    assert (state.consecutive_failures, state.paused_until) == (0, None)


def test_only_one_worker_may_probe_a_suspect_domain_at_a_time(app):
    delivery.record_domain_health([], ["dead.example", "other.example"])
    db.session.execute(DomainState.__table__.update().values(paused_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert delivery.claim_probes({"dead.example"}, 30) == {"dead.example"}
    assert delivery.claim_probes({"dead.example", "other.example"}, 30) == {"other.example"}
