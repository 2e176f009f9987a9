"""federation.delivery against real aiohttp sinks on loopback: signed POSTs, outcome kinds,
Retry-After, timeouts, refused connections, address vetting through the resolver, per-host limits."""

import asyncio
import json
import socket
import threading
import time
from email.utils import formatdate

import httpsig
import pytest
from aiohttp import web

from federation import delivery, signatures
from federation.addresses import AddressPolicy
from federation.delivery import Job, Result, classify, deliver_many_sync, parse_retry_after

LOOPBACK = AddressPolicy(["127.0.0.0/8"])
BODY = json.dumps({"type": "Create", "object": {"content": "ນ້ຳຖ້ວມ"}}, ensure_ascii=False).encode()


class Sink:
    """aiohttp servers on 127.0.0.x in a background loop; the path picks the behaviour."""

    def __init__(self):
        self.received: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.peers: set = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners = []
        self.servers = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append({"path": request.path, "headers": dict(request.headers), "body": body,
                              "host": request.host})
        self.peers.add(request.transport.get_extra_info("peername"))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            kind = request.path.strip("/").split("/")[0]
            if kind == "slow":
                await asyncio.sleep(0.1)
            if kind == "silent":
                await asyncio.sleep(30)
            statuses = {"unavailable": 503, "limited": 429, "gone": 410, "forbidden": 403, "bad": 400,
                        "moved": 301, "teapot": 418}
            headers = {}
            if kind == "unavailable":
                headers["Retry-After"] = "120"
            if kind == "limited":
                headers["Retry-After"] = formatdate(time.time() + 600, usegmt=True)
            if kind == "moved":
                headers["Location"] = "/elsewhere"
            return web.Response(status=statuses.get(kind, 202), headers=headers)
        finally:
            self.in_flight -= 1

    def serve(self, ip: str) -> int:
        async def start():
            app = web.Application()
            app.router.add_route("POST", "/{tail:.*}", self.handle)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, ip, 0)
            await site.start()
            self.runners.append(runner)
            return site._server.sockets[0].getsockname()[1]
        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def serve_stalled_body(self, ip: str) -> int:
        """A raw server that sends a 202's headers, then no byte of its body for 8 s."""
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n")
            await writer.drain()
            try:
                await asyncio.sleep(8)
            except asyncio.CancelledError:  # the sink stopping: end quietly
                pass
            writer.close()

        async def start():
            server = await asyncio.start_server(answer, ip, 0)
            self.servers.append(server)
            return server.sockets[0].getsockname()[1]
        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def stop(self):
        async def stop():
            for server in self.servers:
                server.close()
            for runner in self.runners:
                await runner.cleanup()
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def keys():
    return signatures.generate_key_pair()


@pytest.fixture(scope="module")
def signer(keys):
    return signatures.Signer("http://hub.test/actors/cso#main-key", signatures.load_private_key(keys[0]))


def free_port(ip="127.0.0.2") -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def test_classify_and_retry_after():
    assert [classify(s) for s in (200, 202, 204, 410, 429, 408, 500, 503, 400, 401, 403, 404, 301)] == [
        "ok", "ok", "ok", "gone", "retry", "retry", "retry", "retry", "failed", "failed", "failed", "failed",
        "failed"]
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(formatdate(1000 + 90, usegmt=True), now=1000) == pytest.approx(90)
    assert parse_retry_after(formatdate(1000 - 90, usegmt=True), now=1000) == 0.0
    assert parse_retry_after("9" * 40) == delivery.MAX_RETRY_AFTER
    for bad in (None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2024"):
        assert parse_retry_after(bad) is None


def test_signed_posts_reach_the_inboxes_and_verify_with_ours_and_httpsig(sink, signer, keys):
    port = sink.serve("127.0.0.2")
    jobs = [Job(n, f"http://127.0.0.2:{port}/users/u{n}/inbox", BODY, signer) for n in range(3)]
    results = deliver_many_sync(jobs, policy=LOOPBACK, per_host_limit=1)
    assert [(r.job_id, r.status, r.kind, r.error) for r in results] == [(n, 202, "ok", "") for n in range(3)]
    assert len(sink.received) == 3
    for got in sink.received:
        assert got["body"] == BODY
        assert got["headers"]["Host"] == f"127.0.0.2:{port}"
        assert got["headers"]["Content-Type"] == "application/activity+json"
        assert signatures.verify_request("POST", got["path"], "", got["headers"], got["body"], keys[1])
        verifier = httpsig.HeaderVerifier(got["headers"], keys[1], method="POST", path=got["path"],
                                          sign_header="signature",
                                          required_headers=["(request-target)", "host", "date", "digest"])
        assert verifier.verify()
    assert len(sink.peers) == 1  # keep-alive: one connection carried the three POSTs


def test_outcome_kinds(sink, signer):
    port = sink.serve("127.0.0.2")
    dead = free_port("127.0.0.3")
    base = f"http://127.0.0.2:{port}"
    jobs = [Job("ok", f"{base}/inbox", BODY, signer),
            Job("503", f"{base}/unavailable/inbox", BODY, signer),
            Job("429", f"{base}/limited/inbox", BODY, signer),
            Job("410", f"{base}/gone/inbox", BODY, signer),
            Job("403", f"{base}/forbidden/inbox", BODY, signer),
            Job("400", f"{base}/bad/inbox", BODY, signer),
            Job("301", f"{base}/moved/inbox", BODY, signer),
            Job("silent", f"{base}/silent/inbox", BODY, signer),
            Job("refused", f"http://127.0.0.3:{dead}/inbox", BODY, signer),
            ("tuple", f"{base}/inbox", BODY, signer)]
    started = time.monotonic()
    results = {r.job_id: r for r in deliver_many_sync(jobs, policy=LOOPBACK, timeout=1.0)}
    assert time.monotonic() - started < 5
    assert (results["ok"].kind, results["tuple"].kind) == ("ok", "ok")
    assert (results["503"].kind, results["503"].status, results["503"].retry_after) == ("retry", 503, 120.0)
    assert results["429"].kind == "retry" and 590 < results["429"].retry_after <= 600
    assert (results["410"].kind, results["410"].status) == ("gone", 410)
    assert (results["403"].kind, results["400"].kind, results["301"].kind) == ("failed",) * 3
    assert results["403"].retry_after is None and results["403"].error == "HTTP 403"
    assert (results["silent"].kind, results["silent"].status) == ("retry", None)
    assert "1" in results["silent"].error
    assert (results["refused"].kind, results["refused"].status) == ("retry", None)
    assert results["refused"].error
    assert all(isinstance(r, Result) for r in results.values())


def test_the_deadline_covers_reading_the_answer(sink, signer):
    port = sink.serve_stalled_body("127.0.0.2")
    started = time.monotonic()
    [result] = deliver_many_sync([Job("stalled", f"http://127.0.0.2:{port}/inbox", BODY, signer)],
                                 policy=LOOPBACK, timeout=1.0)
    assert time.monotonic() - started < 5
    assert (result.kind, result.status, result.error) == ("retry", None, "no answer within 1 s")


def test_results_keep_the_order_of_the_jobs(sink, signer):
    port = sink.serve("127.0.0.2")
    kinds = ["slow", "gone", "", "slow", "forbidden"]
    jobs = [Job(n, f"http://127.0.0.2:{port}/{k}/inbox", BODY, signer) for n, k in enumerate(kinds)]
    assert [r.job_id for r in deliver_many_sync(jobs, policy=LOOPBACK)] == list(range(5))


def test_private_addresses_are_refused_without_a_request(sink, signer, monkeypatch):
    port = sink.serve("127.0.0.2")
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "sneaky.example":
            return real("127.0.0.2", *args, **kwargs)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    jobs = [Job("literal", f"http://127.0.0.2:{port}/inbox", BODY, signer),
            Job("name", f"http://sneaky.example:{port}/inbox", BODY, signer),
            Job("odd", f"http://2130706433:{port}/inbox", BODY, signer),
            Job("v6", f"http://[::ffff:127.0.0.2]:{port}/inbox", BODY, signer),
            Job("scheme", "ftp://a.example/inbox", BODY, signer),
            Job("garbage", "not a url", BODY, signer)]
    results = {r.job_id: r for r in deliver_many_sync(jobs, policy=AddressPolicy())}
    assert {k: r.kind for k, r in results.items()} == {k: "failed" for k in results}
    assert sink.received == []


def test_names_resolve_once_through_the_policy_and_the_host_header_is_kept(sink, signer, keys, monkeypatch):
    port = sink.serve("127.0.0.2")
    sink.serve("127.0.0.3")
    real, lookups = socket.getaddrinfo, []

    def fake(host, *args, **kwargs):
        if host == "peer.test":
            lookups.append(host)
            return real("127.0.0.2" if len(lookups) == 1 else "127.0.0.3", *args, **kwargs)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    jobs = [Job(n, f"http://peer.test:{port}/inbox", BODY, signer) for n in range(4)]
    assert {r.kind for r in deliver_many_sync(jobs, policy=LOOPBACK)} == {"ok"}
    assert lookups == ["peer.test"]
    assert {got["host"] for got in sink.received} == {f"peer.test:{port}"}
    got = sink.received[0]
    assert signatures.verify_request("POST", "/inbox", "", got["headers"], got["body"], keys[1])


def test_jobs_to_one_inbox_arrive_in_order(sink, signer):
    port = sink.serve("127.0.0.2")
    jobs = [Job(n, f"http://127.0.0.2:{port}/{'slow/' if n % 2 == 0 else ''}inbox", json.dumps(n).encode(),
                signer) for n in range(10)]
    jobs += [Job(n, f"http://127.0.0.2:{port}/inbox", json.dumps(n).encode(), signer) for n in range(10, 15)]
    deliver_many_sync(jobs, policy=LOOPBACK)
    slow = [json.loads(got["body"]) for got in sink.received if got["path"] == "/slow/inbox"]
    fast = [json.loads(got["body"]) for got in sink.received if got["path"] == "/inbox"]
    assert slow == [0, 2, 4, 6, 8]
    assert fast == [1, 3, 5, 7, 9, 10, 11, 12, 13, 14]


def test_per_host_limit(sink, signer):
    port = sink.serve("127.0.0.2")
    jobs = [Job(n, f"http://127.0.0.2:{port}/slow/inbox/{n}", BODY, signer) for n in range(12)]
    results = deliver_many_sync(jobs, policy=LOOPBACK, per_host_limit=2)
    assert {r.kind for r in results} == {"ok"}
    assert sink.max_in_flight == 2


def test_empty_batch():
    assert deliver_many_sync([], policy=LOOPBACK) == []


def test_deliver_many_runs_inside_an_existing_loop(sink, signer):
    port = sink.serve("127.0.0.2")
    job = Job(1, f"http://127.0.0.2:{port}/inbox", BODY, signer)
    runner = asyncio.Runner()
    try:
        for _ in range(2):  # the worker reuses one runner across batches
            assert runner.run(delivery.deliver_many([job], policy=LOOPBACK))[0].kind == "ok"
    finally:
        runner.close()


class ThreadRecordingSigner:
    """A real Signer that notes which thread signed each request."""

    def __init__(self, signer):
        self.signer, self.threads = signer, []
        self.key_id = signer.key_id

    def sign(self, *args, **kwargs):
        self.threads.append(threading.current_thread().name)
        return self.signer.sign(*args, **kwargs)


def test_with_signing_threads_requests_are_signed_off_the_event_loop_and_verify(sink, signer, keys):
    port = sink.serve("127.0.0.2")
    recording = ThreadRecordingSigner(signer)
    jobs = [Job(n, f"http://127.0.0.2:{port}/users/u{n}/inbox", BODY, recording) for n in range(6)]
    results = deliver_many_sync(jobs, policy=LOOPBACK, signing_threads=2)
    assert [r.kind for r in results] == ["ok"] * 6
    assert len(recording.threads) == 6 and all(name.startswith("signing") for name in recording.threads)
    assert threading.current_thread().name not in recording.threads
    for got in sink.received:
        assert signatures.verify_request("POST", got["path"], "", got["headers"], got["body"], keys[1])


def test_without_signing_threads_the_event_loop_signs(sink, signer):
    port = sink.serve("127.0.0.2")
    recording = ThreadRecordingSigner(signer)
    deliver_many_sync([Job(1, f"http://127.0.0.2:{port}/inbox", BODY, recording)], policy=LOOPBACK)
    assert recording.threads == [threading.current_thread().name]
