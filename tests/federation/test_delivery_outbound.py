"""The concurrent POST layer on loopback: address vetting, deadlines, answers classified."""

import asyncio

import pytest
from delivery_support import Peers, free_port

from bench.sinks import FORBIDDEN, GONE, SILENT, UNAVAILABLE, Behaviour
from federation.addresses import AddressPolicy
from federation.delivery import Job, deliver_many
from federation.signatures import Signer, generate_key_pair

LOOPBACK = AddressPolicy(["127.0.0.0/8"])


@pytest.fixture
def peers():
    started = Peers()
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def signer():
    private_pem, _ = generate_key_pair()
    return Signer("http://hub.test/actors/x#main-key", private_pem)


def send(jobs, policy=LOOPBACK, timeout=2.0):
    return {r.job_id: r for r in asyncio.run(deliver_many(jobs, policy=policy, timeout=timeout))}


def test_each_answer_is_classified(peers, signer):
    port = free_port()
    hosts = {"127.0.0.2": Behaviour(), "127.0.0.3": Behaviour(kind=GONE),
             "127.0.0.4": Behaviour(kind=FORBIDDEN),
             "127.0.0.5": Behaviour(kind=UNAVAILABLE, retry_after=120), "127.0.0.6": Behaviour(kind=SILENT)}
    peers({(host, port): b for host, b in hosts.items()})
    dead = free_port()  # nothing listens there: connection refused
    jobs = [Job(n, f"http://{host}:{port}/inbox", b"{}", signer) for n, host in enumerate(hosts)]
    jobs.append(Job(99, f"http://127.0.0.2:{dead}/inbox", b"{}", signer))
    results = send(jobs, timeout=1.0)
    assert [(results[n].kind, results[n].status) for n in range(5)] == [
        ("ok", 202), ("gone", 410), ("failed", 403), ("retry", 503), ("retry", None)]
    assert results[3].retry_after == 120
    assert "within 1 s" in results[4].error
    assert results[99].kind == "retry" and results[99].status is None


def test_private_addresses_are_refused_without_a_connection(peers, signer):
    port = free_port()
    sink = peers({("127.0.0.2", port): Behaviour()})
    results = send([Job(1, f"http://127.0.0.2:{port}/inbox", b"{}", signer),
                    Job(2, "ftp://127.0.0.2/inbox", b"{}", signer)], policy=AddressPolicy([]))
    assert results[1].kind == "failed" and "refused address" in results[1].error
    assert results[2].kind == "failed"
    assert sink.connections == {}


def test_a_servers_cookies_are_not_sent_back(peers, signer):
    port = free_port()
    sink = peers({("127.0.0.1", port): Behaviour(headers="Set-Cookie: session=abc; Path=/\r\n")})
    inbox = f"http://localhost:{port}/inbox"  # a host name: cookie jars keep no cookies of IP addresses
    results = send([Job(n, inbox, b"{}", signer) for n in range(2)])  # one inbox: one after the other
    assert [r.kind for r in results.values()] == ["ok", "ok"]
    assert len(sink.received) == 2
    assert all("cookie" not in request.headers for request in sink.received)

