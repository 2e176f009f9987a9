"""Where a post went: its compressed reach and the staff's delivery report, a page of servers at a
time with the servers that have problems first."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from statements import statements_of

from hub.extensions import db
from hub.models import Delivery, Post
from hub.models.activity import DONE, FAILED, GONE, QUEUED
from hub.models.base import utcnow
from hub.services import delivery, reach

LAO_INBOX = "https://ເຊີບເວີ.example/users/ນາງ/inbox"


@pytest.fixture
def org(make_org):
    return make_org("lao_cso", "ອົງການທົດລອງ")


@pytest.fixture
def post(org):
    post = Post(actor_id=org.id, source="ສະບາຍດີ", state="published")
    db.session.add(post)
    db.session.commit()
    return post


def send(org, post, n, inboxes, kind="Create"):
    """An activity of `kind` about `post`, queued to `inboxes`; its id."""
    activity = {"id": f"{org.uri}/activities/{n}", "type": kind, "actor": org.uri}
    outgoing = delivery.enqueue(activity, org, inboxes, post=post)
    db.session.commit()
    return outgoing.id


def set_state(inbox, state, **values):
    db.session.execute(update(Delivery).where(Delivery.inbox == inbox).values(state=state, **values))
    db.session.commit()


def test_a_compressed_list_gives_back_the_same_inboxes():
    inboxes = {"https://a.example/inbox", LAO_INBOX, *(f"https://s{i}.example/inbox" for i in range(2000))}
    blob = reach.encode(inboxes)
    assert reach.decode(blob) == inboxes
    assert len(blob) < 10_000 < len("\n".join(inboxes))
    assert reach.decode(reach.encode(set())) == set()


def test_pruned_inboxes_merge_and_count_once(post):
    assert reach.pruned_inboxes(post.id) == set()
    reach.add_pruned(post.id, {"https://a.example/inbox", LAO_INBOX})
    db.session.commit()
    reach.add_pruned(post.id, {"https://a.example/inbox", "https://b.example/inbox"})
    db.session.commit()
    assert reach.pruned_inboxes(post.id) == {"https://a.example/inbox", "https://b.example/inbox", LAO_INBOX}
    assert reach.delivery_report(post).pruned_inboxes == 3


def test_the_report_counts_each_activity_and_lists_servers_with_problems_first(org, post):
    send(org, post, 1, ["https://a.example/inbox", "https://b.example/inbox", "https://c.example/u/1/inbox",
                        "https://c.example/u/2/inbox", "https://d.example/inbox"])
    send(org, None, 2, ["https://e.example/inbox"], kind="Accept")  # about no post: not shown
    set_state("https://a.example/inbox", DONE)
    set_state("https://b.example/inbox", FAILED, attempts=14, last_status=500, last_error="HTTP 500")
    set_state("https://c.example/u/1/inbox", DONE)
    set_state("https://d.example/inbox", GONE, attempts=1, last_status=410)
    retry_at = utcnow() + timedelta(minutes=5)
    set_state("https://c.example/u/2/inbox", QUEUED, attempts=2, next_attempt_at=retry_at)
    send(org, post, 3, ["https://a.example/inbox"], kind="Update")

    report = reach.delivery_report(post)
    assert [(a.type, a.counts[DONE], a.counts[QUEUED], a.failed) for a in report.activities] == [
        ("Create", 2, 1, 2), ("Update", 0, 1, 0)]
    assert (report.server_count, report.page, report.pages, report.pruned_inboxes) == (4, 1, 1, 0)
    rows = [(r["host"], r["done"], r["queued"], r["failed"], r["attempts"], r["last_status"])
            for r in report.servers]
    assert rows == [("b.example", 0, 0, 1, 14, 500), ("d.example", 0, 0, 1, 1, 410),
                    ("a.example", 1, 1, 0, 0, None), ("c.example", 1, 1, 0, 2, None)]
    assert report.servers[0]["last_error"] == "HTTP 500"
    assert report.servers[3]["next_attempt_at"] == retry_at  # the waiting one's, not the delivered one's


def test_the_report_pages_through_servers_and_keeps_the_page_in_range(org, post, monkeypatch):
    monkeypatch.setattr(reach, "SERVERS_PER_PAGE", 2)
    send(org, post, 1, [f"https://s{i}.example/inbox" for i in range(5)])
    pages = [[row["host"] for row in reach.delivery_report(post, page).servers] for page in (1, 2, 3)]
    assert pages == [["s0.example", "s1.example"], ["s2.example", "s3.example"], ["s4.example"]]
    assert reach.delivery_report(post, 9).page == 3 and reach.delivery_report(post, -1).page == 1
    assert reach.delivery_report(post).pages == 3


def test_a_post_sent_nowhere_says_so(post):
    report = reach.delivery_report(post)
    assert (report.activities, report.servers, report.server_count, report.pages) == ([], [], 0, 1)
    assert not report.sent_anything


def test_the_report_costs_the_same_few_statements_however_many_servers(org, post):
    send(org, post, 1, [f"https://s{i}.example/inbox" for i in range(300)])
    db.session.refresh(post)  # loaded already, as in the page's request
    pages = []
    statements = statements_of(lambda: pages.append(reach.delivery_report(post, 2)))
    assert len(pages[0].servers) == reach.SERVERS_PER_PAGE and pages[0].pages == 6
    assert len(statements) <= 4
