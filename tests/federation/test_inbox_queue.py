"""The inbox queue as the worker drives it: claiming with a lock, retries with backoff when a
fetch fails, giving up after the last attempt, and locks of a dead worker expiring."""

import json
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from polling import wait_for
from sqlalchemy import event, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hub import worker
from hub.extensions import database_unavailable, db
from hub.models import InboxItem, Post
from hub.models.base import utcnow
from hub.services import inbox, inbox_content, inbox_writer, posts


def test_claimed_items_are_not_claimed_twice_until_the_lock_expires(client, org, peer):
    alice = peer.add_actor("alice")
    for _ in range(3):
        alice.post_to(client, "/inbox", alice.activity("Like", f"{org.uri}/nothing"))
    first = inbox.claim_due(2)
    second = inbox.claim_due(10)
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert inbox.claim_due(10) == []
    db.session.execute(update(InboxItem).values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert len(inbox.claim_due(10)) == 3  # a worker died holding them: they come back


def test_a_failing_fetch_is_retried_later_then_succeeds(client, app, org, owner, peer):
    our = posts.create_post(org, owner, "hi", language="en")
    alice = peer.add_actor("alice")
    note = alice.note("reply", in_reply_to=our.uri)
    status, content_type, body, headers = peer.documents[note["id"].removeprefix(peer.base)]
    peer.serve(note["id"].removeprefix(peer.base), b"busy", status=503)
    alice.post_to(client, "/inbox", alice.activity("Create", note["id"]))
    assert worker.run_once()["processed"] == 1
    item = db.session.query(InboxItem).one()
    assert item.state == "queued" and item.attempts == 1 and item.error.startswith("retry")
    assert item.next_attempt_at > utcnow()
    assert inbox.process_due(10) == 0  # not due yet
    peer.documents[note["id"].removeprefix(peer.base)] = (status, content_type, body, headers)
    db.session.execute(update(InboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert inbox.process_due(10) == 1
    assert db.session.query(InboxItem).one().state == "done"
    assert db.session.query(Post).filter_by(local=False).count() == 1


def test_gives_up_after_the_last_attempt(client, org, owner, peer):
    our = posts.create_post(org, owner, "hi", language="en")
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Create", f"{alice.uri}/statuses/missing"))
    del our
    for _ in range(inbox.MAX_ATTEMPTS):
        db.session.execute(update(InboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        inbox.process_due(10)
    item = db.session.query(InboxItem).one()
    assert item.state == "failed" and item.attempts == inbox.MAX_ATTEMPTS


def test_a_batch_looks_its_actors_up_in_one_query_and_skips_what_is_not_ours(client, org, peer):
    senders = [peer.add_actor(name) for name in ("alice", "bob", "chan", "dara")]
    for sender in senders:
        for _ in range(3):  # public notes that concern no one here: each is ignored without a write
            sender.post_to(client, "/inbox", sender.activity("Create", sender.note("ສະບາຍດີ", serve=False)))
    actor_queries, savepoints = [], []

    def seen(_conn, _cursor, statement, *_args):
        if "FROM actors" in statement:
            actor_queries.append(statement)

    def began(_session, transaction):
        if transaction.nested:
            savepoints.append(transaction)

    event.listen(db.engine, "before_cursor_execute", seen)
    event.listen(Session, "after_transaction_create", began)
    try:
        assert inbox.process_due(100) == 12
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        event.remove(Session, "after_transaction_create", began)
    outcomes = {(item.state, item.error) for item in db.session.query(InboxItem)}
    assert outcomes == {("done", f"ignored: {inbox_content.NOT_OURS}")}
    assert savepoints == []  # what a note concerns is read from the note itself, before any SAVEPOINT
    # one per sender when each item looked its actor up (4); one for the batch now (two if the
    # batch was committed half-way, after BATCH_COMMIT_SECONDS)
    assert 1 <= len(actor_queries) < len(senders), actor_queries


def test_the_worker_gathers_a_trickle_of_activities_into_batches(app, client, org, peer, monkeypatch):
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Create", alice.note("ສະບາຍດີ", serve=False)))
    rounds = []
    real_round = worker.run_round

    def counted_round():
        counts, items = real_round()
        rounds.append(items)
        return counts, items

    monkeypatch.setattr(worker, "run_round", counted_round)
    trickle = 150
    producer = threading.Thread(target=_trickle, args=(app, alice, trickle))
    producer.start()
    try:
        worker.run_forever()  # until the producer has seen every item processed
    finally:
        producer.join(60)
    assert sum(rounds) == trickle + 1
    # Taken as they come, one or two a round, they would need a round each (a few ms of queries);
    # after a round with few items the worker waits GATHER_SECONDS for more.
    assert len([items for items in rounds if items]) < trickle / 5, rounds


def _trickle(app, actor, count: int) -> None:
    """Store `count` ignorable Creates one by one, 2 ms apart; stop the worker once all are done."""
    with app.app_context():
        try:
            for _ in range(count):
                activity = actor.activity("Create", actor.note("ຂ່າວ", serve=False))
                now = utcnow()  # stored as the inbox stores it: on PostgreSQL with a NOTIFY each
                inbox_writer.store({"activity_uri": activity["id"], "type": "Create", "actor_uri": actor.uri,
                                    "payload": json.dumps(activity), "state": "queued", "attempts": 0,
                                    "next_attempt_at": now, "received_at": now, "error": ""})
                time.sleep(0.002)
            wait_for(lambda: not _queued(), "every trickled item processed")
        finally:
            worker._State.stopping = True
            db.session.remove()


def _queued() -> int:
    count = db.session.query(InboxItem).filter_by(state="queued").count()
    db.session.rollback()
    return count


def test_a_database_locked_too_long_stops_the_batch_instead_of_failing_each_item(client, org, owner, peer,
                                                                                 db_url, caplog):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's lock, held by another process past the busy timeout")
    ours = posts.create_post(org, owner, "ນ້ຳຖ້ວມ", language="lo")
    for name in ("alice", "bob", "carol"):
        fan = peer.add_actor(name)
        fan.post_to(client, "/inbox", fan.activity("Like", ours.uri))
    claimed = inbox.claim_due(10)
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN EXCLUSIVE")  # a writer that keeps the lock (WAL: reading still works)
    try:
        with pytest.raises(OperationalError) as caught:
            inbox.process_items(claimed)
    finally:
        holder.rollback()
        holder.close()
    assert database_unavailable(caught.value) and "inbox item failed" not in caplog.text
    db.session.rollback()
    assert [(i.state, i.attempts) for i in db.session.query(InboxItem)] == [("queued", 0)] * 3
    assert inbox.process_items(claimed) == {item_id: "done" for item_id in claimed}
