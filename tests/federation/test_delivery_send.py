"""Delivery over real HTTP: fake peers on 127.0.0.x record what the worker sends them."""

import base64
import hashlib
import json
import os
from datetime import timedelta

import httpsig
import pytest
from delivery_support import Peers, add_followers, free_port, publish, time_passes
from sqlalchemy import select, update

from bench.sinks import FORBIDDEN, GONE, LATENCY, OK, SILENT, UNAVAILABLE, Behaviour
from federation.signatures import verify_request
from hub import worker
from hub.extensions import db
from hub.models import Delivery, DomainState
from hub.models.base import utcnow
from hub.services import delivery, sender


@pytest.fixture
def peers():
    started = Peers()
    yield started
    started.stop_all()


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def org(app, make_org):
    app.config.update(HUB_DELIVERY_TIMEOUT=2.0, HUB_DELIVERY_RETRY_BASE=30.0)
    return make_org()


def rows():
    return {(d.domain, d.inbox.split("/", 3)[3]): d for d in db.session.scalars(select(Delivery))}


def test_post_reaches_each_distinct_inbox_once_signed_by_the_org(org, peers, port):
    sink = peers({("127.0.0.2", port): Behaviour(), ("127.0.0.3", port): Behaviour()})
    add_followers(org, "127.0.0.2", port, count=3)
    add_followers(org, "127.0.0.3", port, count=2, shared=False)
    activity = publish(org)
    stats = worker.run_once()
    assert stats["delivered"] == 3
    got = sorted((r.address, r.path) for r in sink.received)
    assert got == [(f"127.0.0.2:{port}", "/inbox"), (f"127.0.0.3:{port}", "/users/u0/inbox"),
                   (f"127.0.0.3:{port}", "/users/u1/inbox")]
    for request in sink.received:
        assert json.loads(request.body) == activity
        digest = base64.b64encode(hashlib.sha256(request.body).digest()).decode()
        assert request.headers["digest"] == f"SHA-256={digest}"
        verifier = httpsig.HeaderVerifier(request.headers, org.public_key_pem, method="POST",
                                          path=request.path, sign_header="signature",
                                          required_headers=["(request-target)", "host", "date", "digest"])
        assert verifier.verify()
        verify_request("POST", request.path, "", request.headers, request.body, org.public_key_pem)
        assert f'keyId="{org.key_id}"' in request.headers["signature"]
    assert {d.state for d in rows().values()} == {"done"}
    assert worker.run_once()["delivered"] == 0


def test_503_is_retried_after_retry_after_and_then_delivered(org, peers, port, app):
    app.config["HUB_DELIVERY_RETRY_BASE"] = 1.0
    sink = peers({("127.0.0.2", port): Behaviour(script=[UNAVAILABLE], retry_after=3600)})
    add_followers(org, "127.0.0.2", port)
    publish(org)
    assert worker.run_once()["retrying"] == 1
    row = rows()[(f"127.0.0.2:{port}", "inbox")]
    assert (row.state, row.attempts, row.last_status) == ("queued", 1, 503)
    assert row.next_attempt_at > utcnow() + timedelta(seconds=3500)
    assert worker.run_once()["delivered"] == 0  # not due before Retry-After
    time_passes()
    assert worker.run_once()["delivered"] == 1
    assert sink.served[f"127.0.0.2:{port}"] == 2 and len(sink.received) == 1


def test_backoff_grows_between_attempts_and_ends_failed(org, peers, port):
    peers({("127.0.0.2", port): Behaviour(kind=UNAVAILABLE, retry_after=0)})
    add_followers(org, "127.0.0.2", port)
    publish(org)
    waits = []
    for _ in range(4):
        before = utcnow()
        worker.run_once()
        row = next(iter(rows().values()))
        waits.append((row.next_attempt_at - before).total_seconds())
        time_passes()
    assert all(later > earlier * 1.3 for earlier, later in zip(waits, waits[1:], strict=False))
    db.session.execute(update(Delivery).values(attempts=delivery.MAX_ATTEMPTS - 1))
    db.session.commit()
    worker.run_once()
    assert next(iter(rows().values())).state == "failed"


def test_410_from_a_personal_inbox_marks_the_actor_gone(org, peers, port):
    peers({("127.0.0.2", port): Behaviour(kind=GONE), ("127.0.0.3", port): Behaviour()})
    (leaver,) = add_followers(org, "127.0.0.2", port, shared=False)
    add_followers(org, "127.0.0.3", port)
    publish(org)
    assert worker.run_once()["gone"] == 1
    db.session.refresh(leaver)
    assert leaver.gone is True
    assert rows()[(f"127.0.0.2:{port}", "users/u0/inbox")].state == "gone"
    assert delivery.follower_inboxes(org) == [f"http://127.0.0.3:{port}/inbox"]


def test_permanent_4xx_fails_without_retry(org, peers, port):
    sink = peers({("127.0.0.2", port): Behaviour(kind=FORBIDDEN)})
    add_followers(org, "127.0.0.2", port)
    publish(org)
    assert worker.run_once()["failed"] == 1
    time_passes()
    worker.run_once()
    assert sink.served[f"127.0.0.2:{port}"] == 1


def test_dead_domain_is_paused_then_probed_once_per_round_and_recovers(org, peers, port, app):
    app.config["HUB_DELIVERY_TIMEOUT"] = 0.5
    dead = ("127.0.0.2", port)
    sink = peers({dead: Behaviour(kind=SILENT), ("127.0.0.3", port): Behaviour()})
    add_followers(org, *dead, count=3, shared=False)
    add_followers(org, "127.0.0.3", port)
    publish(org, 1)
    stats = worker.run_once()  # first contact: one request waits for its deadline, two are held back
    address = f"127.0.0.2:{port}"
    assert sink.served[address] == 1 and stats["deferred"] == 2
    state = db.session.get(DomainState, address)
    assert state.consecutive_failures == 1 and state.paused_until > utcnow()
    publish(org, 2)
    publish(org, 3)
    served_before = sink.served[address]
    assert worker.run_once()["delivered"] == 2  # the healthy host gets posts 2 and 3 … and
    assert sink.served[address] == served_before  # … nothing is sent to the paused domain
    time_passes()
    stats = worker.run_once()  # nine rows due for the dead host: one probe, the rest deferred
    assert sink.served[address] == served_before + 1
    assert stats["deferred"] == 8
    db.session.refresh(state)
    assert state.consecutive_failures == 2
    sink.behaviours[address] = Behaviour(kind=OK)
    time_passes()
    assert worker.run_once()["delivered"] == 9
    db.session.refresh(state)
    assert (state.consecutive_failures, state.paused_until) == (0, None)
    assert sink.counts[(address, "/users/u2/inbox")] == 3


def test_a_slow_host_is_delivered_alongside_the_others(org, peers, port):
    sink = peers({("127.0.0.2", port): Behaviour(kind=LATENCY, delay=0.5), ("127.0.0.3", port): Behaviour()})
    add_followers(org, "127.0.0.2", port)
    add_followers(org, "127.0.0.3", port)
    publish(org)
    assert worker.run_once()["delivered"] == 2
    assert len(sink.received) == 2


def test_a_worker_signs_on_one_thread_per_cpu_unless_told_otherwise(app, monkeypatch):
    assert app.config["HUB_DELIVERY_SIGNING_THREADS"] == -1  # unset
    assert sender.signing_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setitem(app.config, "HUB_DELIVERY_SIGNING_THREADS", 0)
    assert sender.signing_threads() == 0  # the event loop signs (several workers on one machine)
    monkeypatch.setitem(app.config, "HUB_DELIVERY_SIGNING_THREADS", 3)
    assert sender.signing_threads() == 3
