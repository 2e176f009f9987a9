"""The worker rides out a database that goes away: PostgreSQL restarted (its connections dropped),
or not up yet when the worker starts. It waits, starts anew and loses no delivery."""

import signal
import subprocess

import pytest
import sqlalchemy as sa
from databases import drop_connections, unreachable_postgresql_url
from delivery_support import HUB, Peers, done_count, free_port, publish, spread_followers, worker_env
from polling import wait_for

from bench.sinks import LATENCY, Behaviour


@pytest.fixture
def peers():
    started = Peers()
    yield started
    started.stop_all()


def worker_log(path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_the_worker_goes_on_after_postgresql_drops_its_connections(app, make_org, db_url, peers, tmp_path):
    if not db_url.startswith("postgresql"):
        pytest.skip("dropping a client's connections is PostgreSQL's")
    org = make_org()
    port = free_port()
    addresses = spread_followers(org, port, hosts=10, per_host=5)
    sink = peers({address: Behaviour(kind=LATENCY, delay=0.2) for address in addresses})
    name = "hub_outage_test"  # the worker's connections, told apart from the test's own
    url = sa.make_url(db_url).update_query_dict({"application_name": name})
    url = url.render_as_string(hide_password=False)
    env = worker_env(app, DATABASE_URL=url, HUB_DELIVERY_BATCH=5, HUB_DELIVERY_CONCURRENCY=10)
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([HUB, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        publish(org, 1)
        wait_for(lambda: sum(sink.counts.values()) >= 5, "the first deliveries", logs=[log])
        assert drop_connections(name) >= 2  # mid-flight: the lease's and the pool's
        wait_for(lambda: done_count() == 50, "every delivery recorded after the drop", logs=[log])
        assert len(sink.counts) == 50
        wait_for(lambda: "reachable again" in worker_log(log), "the worker back at work", logs=[log])
        assert drop_connections(name) >= 1  # idle: waiting on the lease's LISTEN
        publish(org, 2)
        wait_for(lambda: done_count() == 100, "the next post delivered", logs=[log])
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(30)
    assert returncode == 0
    text = worker_log(log)
    assert text.count("the database cannot be reached") >= 2 and "Traceback" not in text
    assert min(sink.counts.values()) == 2  # both posts reached every inbox


def test_a_worker_started_before_its_database_waits_for_it_and_stops_when_told(app, db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("once is enough: the database the worker is given is not the test's")
    env = worker_env(app, DATABASE_URL=unreachable_postgresql_url())  # PostgreSQL is not up yet
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([HUB, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: worker_log(log).count("the database cannot be reached") >= 2, "two tries",
                 logs=[log])
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(10)  # a wait between tries ends at once
    text = worker_log(log)
    assert returncode == 0 and "Traceback" not in text
    assert "Connection refused" in text and "trying again in 1 s" in text and "trying again in 2 s" in text

