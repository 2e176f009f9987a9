"""A worker's deliveries to a server that never answers stay in flight for their whole deadline;
meanwhile rows that fall due are sent and inbox items get their turn (bench/README: broken servers
at 100,000 followers)."""

import json
import threading
from datetime import timedelta

import pytest
from delivery_support import Peers, add_followers, free_port, publish
from polling import wait_for
from sqlalchemy import select, update

from bench.sinks import SILENT, Behaviour
from hub import worker
from hub.extensions import db
from hub.models import Delivery, InboxItem
from hub.models.base import utcnow
from hub.services import inbox_writer


@pytest.fixture
def sinks():
    started = Peers()
    yield started
    started.stop_all()


def test_a_silent_server_holds_back_neither_later_deliveries_nor_inbox_items(app, org, peer, sinks,
                                                                               monkeypatch):
    if db.engine.dialect.name == "sqlite":
        pytest.skip("on SQLite a round still ends before the inbox items' turn (hub.worker.run_round)")
    app.config.update(HUB_DELIVERY_TIMEOUT=8.0)
    monkeypatch.setattr(worker, "ROUND_SECONDS", 0.3)
    port = free_port()
    silent, healthy = ("127.0.0.2", port), ("127.0.0.3", port)
    sink = sinks({silent: Behaviour(kind=SILENT), healthy: Behaviour()})
    add_followers(org, *silent)
    publish(org, 1)  # to the silent server only: its request waits for the whole deadline
    add_followers(org, *healthy)
    publish(org, 2)
    later = utcnow() + timedelta(seconds=1)  # due once the first round's time is spent
    db.session.execute(update(Delivery).where(Delivery.domain == f"127.0.0.3:{port}")
                       .values(next_attempt_at=later))
    db.session.commit()  # the inbox writer stores on a connection of its own
    alice = peer.add_actor("alice")
    activity = alice.activity("Create", alice.note("ນ້ຳຖ້ວມຢູ່ບ້ານນາ", serve=False))
    inbox_writer.store({"activity_uri": activity["id"], "type": "Create", "actor_uri": alice.uri,
                        "payload": json.dumps(activity), "state": "queued", "attempts": 0,
                        "next_attempt_at": later, "received_at": utcnow(), "error": ""})

    def one_round():
        with app.app_context():
            worker.run_round()
            db.session.remove()

    sending = threading.Thread(target=one_round)
    sending.start()
    try:
        wait_for(lambda: sink.served[f"127.0.0.3:{port}"] == 1, "the later post at the healthy server",
                 timeout=20)
        wait_for(lambda: _item_state(activity["id"]) != "queued", "the inbox item processed", timeout=20)
        first = db.session.scalar(select(Delivery).where(Delivery.domain == f"127.0.0.2:{port}")
                                  .order_by(Delivery.id).limit(1))
        assert (first.attempts, first.last_error) == (0, "")  # its request is still in flight
        assert sink.served[f"127.0.0.2:{port}"] == 1
    finally:
        sending.join(30)
    db.session.rollback()
    assert not sending.is_alive()
    assert db.session.get(Delivery, first.id).last_error.startswith("no answer within")


def _item_state(activity_uri: str) -> str:
    db.session.rollback()  # a fresh look at what the worker's thread committed
    return db.session.scalar(select(InboxItem.state).where(InboxItem.activity_uri == activity_uri))
