"""The inbox's fast path: rows committed together by a leading request thread, on PostgreSQL and on
SQLite, each activity stored exactly once however it arrives; the per-process caches of keys and
blocked domains never outlive a key rotation or a block; processed items committed in batches
where one failing item undoes only itself."""

import fcntl
import json
import sqlite3
import threading
import time

import pytest
from databases import unreachable_postgresql_url
from fakepeer import key_pair
from sqlalchemy import create_engine, select
from sqlalchemy.exc import DBAPIError

from hub import convert
from hub.extensions import db
from hub.models import DomainState, InboxItem, Like
from hub.models.base import utcnow
from hub.services import inbox, inbox_cache, inbox_writer, posts


@pytest.fixture
def alice(peer):
    return peer.add_actor("alice")


def stored_ids() -> list[str]:
    db.session.rollback()
    return sorted(db.session.scalars(select(InboxItem.activity_uri)))


def test_a_replay_answers_202_and_is_stored_once(client, app, org, alice):
    follow = alice.activity("Follow", org.uri)
    answers = [alice.post_to(client, "/inbox", follow).status_code for _ in range(3)]
    assert answers == [202, 202, 202]
    assert stored_ids() == [follow["id"]]
    assert inbox_writer.writer().batches >= 1  # the rows went through the group commit


def test_concurrent_posts_from_many_threads_are_all_stored_exactly_once(client, app, org, alice):
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 202  # key known
    replayed = [alice.activity("Like", f"{org.uri}/posts/{n}") for n in range(5)]
    distinct = [[alice.activity("Like", f"{org.uri}/t{t}/{n}") for n in range(8)] for t in range(6)]
    answers, errors = [], []

    def post_all(activities):
        try:
            with app.app_context():
                own = app.test_client()
                for activity in activities:
                    answers.append(alice.post_to(own, "/inbox", activity).status_code)
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=post_all, args=(mine + replayed,)) for mine in distinct]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(answers) == 6 * (8 + 5) and set(answers) == {202}
    expected = {a["id"] for a in replayed} | {a["id"] for mine in distinct for a in mine}
    ids = stored_ids()
    assert len(ids) == len(set(ids)) == len(expected) + 1 and expected <= set(ids)


def test_a_failing_row_in_a_group_fails_alone(app, org):
    now = utcnow()

    def row(n, kind="Like"):
        return {"activity_uri": f"https://peer.example/a/{n}", "type": kind, "actor_uri": "https://peer.example/u",
                "payload": "{}", "state": "queued", "attempts": 0, "next_attempt_at": now, "received_at": now,
                "error": ""}

    outcomes = {}

    def store(n, kind="Like"):
        with app.app_context():
            try:
                inbox_writer.store(row(n, kind))
                outcomes[n] = "stored"
            except DBAPIError:
                outcomes[n] = "error"

    threads = [threading.Thread(target=store, args=(n,)) for n in range(6)]
    threads.append(threading.Thread(target=store, args=(99, None)))  # the column is NOT NULL
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == {**{n: "stored" for n in range(6)}, 99: "error"}
    assert stored_ids() == sorted(f"https://peer.example/a/{n}" for n in range(6))


def _row(n: int) -> dict:
    now = utcnow()
    return {"activity_uri": f"https://peer.example/g/{n}", "type": "Like", "actor_uri": "https://peer.example/u",
            "payload": "{}", "state": "queued", "attempts": 0, "next_attempt_at": now, "received_at": now,
            "error": ""}


@pytest.fixture
def group(app, monkeypatch):
    """A group writer on the test database whose batch sizes are recorded, with waits long enough
    that only the rule, not the machine's speed, decides how rows are batched."""
    monkeypatch.setattr(inbox_writer, "GATHER_SECONDS", 30.0)
    monkeypatch.setattr(inbox_writer, "BUSY_SECONDS", 30.0)
    writer = inbox_writer.GroupWriter(db.engine)
    writer.sizes = []
    write = writer._write
    writer._write = lambda rows: writer.sizes.append(len(rows)) or write(rows)
    yield writer
    writer._disconnect()


def test_an_unreachable_database_is_one_warning_line_and_each_request_then_meets_it(app, db_url, caplog):
    if not db_url.startswith("sqlite"):
        pytest.skip("a writer on an unreachable PostgreSQL, run once")
    writer = inbox_writer.GroupWriter(create_engine(unreachable_postgresql_url()))
    assert writer.store(_row(1)) is False  # the request then writes its own row (and answers 503)
    assert [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records] == [
        ("WARNING", "group commit of 1 inbox rows failed: the database cannot be reached")]
    assert "Connection refused" in caplog.text and "Traceback" not in caplog.text
    assert writer.conn is None


def test_a_leader_waits_for_the_rows_of_the_other_busy_threads(group):
    steps = [threading.Event() for _ in range(3)]
    done = []

    def busy_thread(n):
        with group.lock:  # as if it had just queued a row: busy
            group.last_row_of[threading.get_ident()] = time.monotonic()
        steps[n].wait(10)
        done.append(group.store(_row(10 + n)))

    threads = [threading.Thread(target=busy_thread, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    while len(group.last_row_of) < 3:
        time.sleep(0.01)
    steps[0].set()  # its row leads and waits for the two other busy threads
    while not group.writing:
        time.sleep(0.01)
    steps[1].set()
    steps[2].set()
    for thread in threads:
        thread.join(10)
    assert done == [True, True, True]
    assert group.sizes == [3]
    assert stored_ids() == sorted(f"https://peer.example/g/{n}" for n in (10, 11, 12))


def test_a_request_alone_does_not_wait_to_be_gathered(group):
    def alone():
        for n in range(3):
            assert group.store(_row(n))

    thread = threading.Thread(target=alone)
    thread.start()
    thread.join(10)  # far less than the 30 s a leader may wait for busy threads
    assert not thread.is_alive()
    assert group.sizes == [1, 1, 1]


def test_on_sqlite_an_activity_is_stored_while_another_connection_reads(client, app, org, alice):
    """Write-ahead logging: a reader (a page, the worker) holds no lock a writer must wait for."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's readers never block writers")
    reader = sqlite3.connect(db.engine.url.database)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM inbox_items").fetchone()  # a read transaction stays open
        follow = alice.activity("Follow", org.uri)
        assert alice.post_to(client, "/inbox", follow).status_code == 202
    finally:
        reader.close()
    assert stored_ids() == [follow["id"]]


def test_on_sqlite_a_batch_waits_its_turn_while_another_process_writes(group):
    """Web processes take turns at SQLite's write lock on a file lock, instead of sleeping and retrying."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL takes concurrent writers without turns")
    other_process = open(inbox_writer.SqliteWritersTurn(db.engine.url.database).path, "a")  # another flock
    fcntl.flock(other_process, fcntl.LOCK_EX)
    try:
        thread = threading.Thread(target=group.store, args=(_row(1),))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and stored_ids() == []  # waiting for its turn, not failed, not written
    finally:
        fcntl.flock(other_process, fcntl.LOCK_UN)
        other_process.close()
    thread.join(10)
    assert stored_ids() == ["https://peer.example/g/1"]


def test_a_rotated_key_verifies_at_once_and_the_old_key_stops(client, org, alice):
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 202
    old_private = alice.private_pem
    alice.private_pem, alice.public_pem = key_pair()
    alice.document["publicKey"]["publicKeyPem"] = alice.public_pem
    alice.peer.publish_actor(alice)
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{org.uri}/1")).status_code == 202
    alice.private_pem = old_private
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{org.uri}/2")).status_code == 401
    assert len(stored_ids()) == 2


def test_a_key_cached_for_one_actor_does_not_vouch_for_another(client, org, alice, peer):
    bob = peer.add_actor("bob")
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 202
    forged = bob.activity("Follow", org.uri)
    assert alice.post_to(client, "/inbox", forged).status_code == 401
    assert len(stored_ids()) == 1


def test_a_block_takes_effect_at_once_in_the_process_that_made_it(client, org, alice):
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 202
    db.session.add(DomainState(domain=alice.peer.netloc, blocked=True))
    db.session.commit()
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{org.uri}/1")).status_code == 403
    assert len(stored_ids()) == 1


def test_the_waiting_counts_are_read_less_often_when_the_backlog_makes_them_slow(client, org, alice,
                                                                                 monkeypatch):
    assert inbox_cache.refresh_interval(0.002) == inbox_cache.FLOOD_SECONDS
    assert inbox_cache.refresh_interval(0.25) == pytest.approx(5.0)  # 5 % of the time, not 25 %
    monkeypatch.setattr(inbox_cache, "FLOOD_COST_SHARE", 1e-9)  # so the real read counts as very slow
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 202
    state = inbox_cache.cache()
    assert state.waiting_until - time.monotonic() > 60 * inbox_cache.FLOOD_SECONDS  # the read's time was used
    host = convert.host_of(alice.uri)
    assert state.waiting.get(host, 0) + state.added[host] == 1  # what the next flood check counts


def test_a_late_replay_with_an_expired_signature_still_answers_202(client, org, alice):
    follow = alice.activity("Follow", org.uri)
    assert alice.post_to(client, "/inbox", follow).status_code == 202
    body = json.dumps(follow).encode()
    headers = alice.sign_headers("http://hub.test/inbox", body, now=time.time() - 7300)
    assert client.post("/inbox", data=body, headers=headers, base_url="http://hub.test").status_code == 202
    assert stored_ids() == [follow["id"]]


def test_items_of_a_batch_are_committed_together_each_undone_alone(client, org, owner, alice):
    ours = [posts.create_post(org, owner, f"post {n}", language="en") for n in range(3)]
    likes = [alice.activity("Like", post.uri) for post in ours]
    for like in likes:
        assert alice.post_to(client, "/inbox", like).status_code == 202
    twice = alice.activity("Like", ours[0].uri)  # ignored: liked already, undone alone
    assert alice.post_to(client, "/inbox", twice).status_code == 202
    broken = alice.activity("Like", ours[1].uri)
    assert alice.post_to(client, "/inbox", broken).status_code == 202
    db.session.query(InboxItem).filter_by(activity_uri=broken["id"]).update({"payload": "{not json"})
    db.session.commit()
    assert inbox.process_due(50) == 5
    states = dict(db.session.execute(select(InboxItem.activity_uri, InboxItem.state)).all())
    assert [states[like["id"]] for like in likes] == ["done"] * 3
    assert states[twice["id"]] == "done" and states[broken["id"]] == "queued"
    assert db.session.query(Like).count() == 3
    assert db.session.scalar(select(InboxItem.attempts).where(InboxItem.activity_uri == broken["id"])) == 1
