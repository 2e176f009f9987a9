"""Several workers and killed workers: no delivery lost, none doubled beyond what was in flight."""

import signal
import subprocess
import threading
from collections import Counter

import pytest
from delivery_support import (
    HUB,
    Peers,
    add_followers,
    delivery_count,
    done_count,
    free_port,
    publish,
    spread_followers,
    worker_env,
)
from polling import wait_for
from sqlalchemy import func, select

from bench.sinks import LATENCY, SILENT, Behaviour
from hub import worker
from hub.extensions import db
from hub.models import Delivery
from hub.models.base import utcnow
from hub.services import delivery
from hub.services import sender as sender_module
from hub.services.sender import Sender


def drain_in_thread(app, totals: dict, name: str) -> threading.Thread:
    """A Sender draining what is due in its own thread and app context; its counts go to totals[name]."""

    def drain():
        with app.app_context():
            sender = Sender()
            try:
                totals[name] = sender.drain()
            finally:
                sender.close()
                db.session.remove()

    thread = threading.Thread(target=drain)
    thread.start()
    return thread


def two_workers(app, first_went, what: str) -> dict:
    """Drain with one worker, start a second once first_went() (waited for as `what`); both counts."""
    totals = {}
    first = drain_in_thread(app, totals, "first")
    wait_for(first_went, what, interval=0.01)
    second = drain_in_thread(app, totals, "second")
    for thread in (first, second):
        thread.join(120)
    return totals


@pytest.fixture
def peers():
    started = Peers()
    yield started
    started.stop_all()


@pytest.fixture
def org(app, make_org):
    return make_org()


def test_concurrent_claims_never_hand_out_a_row_twice(app, org, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite runs one)")
    delivery.enqueue({"id": f"{org.uri}/activities/1", "type": "Create"}, org,
                     [f"https://s{n}.example/inbox" for n in range(400)])
    db.session.commit()
    claimed, barrier = [], threading.Barrier(4)

    def claimer():
        with app.app_context():
            barrier.wait()
            while rows := delivery.claim_due(limit=7):
                claimed.extend(row.id for row in rows)
            db.session.remove()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claimed) == 400 and len(set(claimed)) == 400


def test_two_worker_processes_deliver_each_inbox_exactly_once(app, org, db_url, peers):
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite runs one)")
    port = free_port()
    addresses = spread_followers(org, port, hosts=20, per_host=10)
    sink = peers({a: Behaviour(kind=LATENCY, delay=0.02) for a in addresses})
    publish(org)
    env = worker_env(app, HUB_DELIVERY_BATCH=7, HUB_DELIVERY_CONCURRENCY=14, HUB_DELIVERY_PER_HOST=2)
    procs = [subprocess.Popen([HUB, "worker", "--once"], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    delivered = [int(out.split("delivered=")[1].split()[0]) for out in outputs]
    assert sum(delivered) == 200
    assert len(sink.counts) == 200 and set(sink.counts.values()) == {1}
    states = Counter(db.session.scalars(select(Delivery.state)))
    assert states == {"done": 200}


def test_a_worker_claims_as_it_begins_sending_so_a_later_one_gets_a_share(app, org, db_url, peers):
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite runs one)")
    port = free_port()
    addresses = spread_followers(org, port, hosts=50, per_host=20)
    sink = peers({a: Behaviour() for a in addresses})
    publish(org)
    # 1,000 rows, far fewer than a worker may hold (twice its concurrency): only the rule that it
    # claims more once fewer than half a batch wait to be posted leaves rows to the second worker.
    app.config.update(HUB_DELIVERY_BATCH=10, HUB_DELIVERY_CONCURRENCY=1000)
    totals = two_workers(app, lambda: sink.counts, "the first worker's first POST")
    assert totals["first"]["claimed"] + totals["second"]["claimed"] == 1000
    assert totals["second"]["claimed"] >= 100, totals
    assert len(sink.counts) == 1000 and set(sink.counts.values()) == {1}


def test_a_worker_waiting_for_slow_servers_leaves_the_rest_to_another(app, org, db_url, peers, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite runs one)")
    port = free_port()
    addresses = spread_followers(org, port, hosts=2, per_host=50)
    peers({a: Behaviour(kind=LATENCY, delay=0.6) for a in addresses})
    publish(org)
    # Each server takes one request until it has answered; the rows behind it have not begun, so the
    # first worker stops claiming after its first batch instead of taking all 100 rows at once.
    monkeypatch.setattr(sender_module, "WAITING_COUNTS_SECONDS", 60.0)
    app.config.update(HUB_DELIVERY_BATCH=10, HUB_DELIVERY_CONCURRENCY=1000)
    totals = two_workers(app, lambda: done_count() >= 1, "the first worker's first answer")
    assert totals["first"]["claimed"] + totals["second"]["claimed"] == 100
    assert totals["second"]["claimed"] >= 25, totals
    assert done_count() == 100


def test_rows_behind_a_server_that_never_answers_stop_holding_back_the_claims(app, org, peers, monkeypatch):
    port = free_port()
    silent, healthy = ("127.0.1.1", port), ("127.0.1.2", port)
    for host, _ in (silent, healthy):
        add_followers(org, host, port, count=20, shared=False)
    sink = peers({silent: Behaviour(kind=SILENT), healthy: Behaviour()})
    publish(org)
    # Rows queue in turns (silent, healthy, silent, …): after two batches nine rows wait behind the
    # silent server's first request. They count as begun after a short wait, not after its timeout.
    monkeypatch.setattr(sender_module, "WAITING_COUNTS_SECONDS", 0.2)
    app.config.update(HUB_DELIVERY_BATCH=10, HUB_DELIVERY_CONCURRENCY=1000, HUB_DELIVERY_TIMEOUT=6)
    healthy_inbox = f"127.0.1.2:{port}"
    totals = {}
    drained = drain_in_thread(app, totals, "only")
    try:
        wait_for(lambda: sum(n for (address, _), n in sink.counts.items() if address == healthy_inbox) == 20,
                 "every inbox of the healthy server", timeout=30)
        # a failed attempt recorded would be the silent server's, after its deadline
        assert not delivery_count(Delivery.attempts > 0, Delivery.state != "done"), \
            "the healthy server's last rows waited for the silent one's timeout"
    finally:
        drained.join(60)
    assert totals["only"]["claimed"] == 40


def test_kill_9_mid_flight_then_restart_loses_nothing(app, org, peers):
    port = free_port()
    addresses = spread_followers(org, port, hosts=20, per_host=10)
    sink = peers({a: Behaviour(kind=LATENCY, delay=0.1) for a in addresses})
    publish(org)
    in_flight = 20  # rows a worker may have claimed and not yet recorded: twice its concurrency
    env = worker_env(app, HUB_DELIVERY_BATCH=5, HUB_DELIVERY_CONCURRENCY=in_flight // 2,
                     HUB_DELIVERY_LOCK=600)
    proc = subprocess.Popen([HUB, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: sum(sink.counts.values()) >= 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    received_at_kill = sum(sink.counts.values())
    assert received_at_kill < 200, "the worker finished before it could be killed"
    db.session.expire_all()
    locked = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.state == "queued", Delivery.locked_until > utcnow()))
    assert 0 < locked <= in_flight  # what was in flight is still claimed by the dead worker
    restarted = subprocess.Popen([HUB, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(sink.counts) == 200)  # long before the 600 s lock would expire
        wait_for(lambda: done_count() == 200)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)
    duplicates = sum(sink.counts.values()) - 200
    assert duplicates <= in_flight


def test_claims_of_a_dead_worker_are_released_and_a_live_ones_kept(app, org, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("worker liveness is an advisory lock on PostgreSQL")
    delivery.enqueue({"id": f"{org.uri}/activities/1", "type": "Create"}, org,
                     [f"https://s{n}.example/inbox" for n in range(10)])
    db.session.commit()
    live = worker.lease()
    mine = delivery.claim_due(limit=4, worker_id=live.worker_id)
    delivery.claim_due(limit=3, worker_id=12345)  # nobody holds this id's advisory lock
    assert delivery.release_orphans() == 3
    again = delivery.claim_due(limit=10, worker_id=live.worker_id)
    assert len(again) == 6 and not {r.id for r in again} & {r.id for r in mine}


def test_sigterm_lets_the_batch_in_flight_finish(app, org, peers):
    port = free_port()
    addresses = spread_followers(org, port, hosts=10, per_host=5)
    sink = peers({a: Behaviour(kind=LATENCY, delay=0.3) for a in addresses})
    publish(org)
    env = worker_env(app, HUB_DELIVERY_BATCH=5, HUB_DELIVERY_CONCURRENCY=10)
    proc = subprocess.Popen([HUB, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: sum(sink.counts.values()) >= 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    db.session.expire_all()
    still_locked = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.locked_until > utcnow()))
    assert still_locked == 0  # the batch was recorded before the worker left
    done = db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "done"))
    assert done == sum(sink.counts.values()) and done < 50
