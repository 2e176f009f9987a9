"""Delivery of signed POSTs to inboxes: a long-lived aiohttp client that sends many jobs
concurrently, through a resolver that applies the AddressPolicy.

The worker needs each outcome as it comes (to record it, to free the row for the next claim, to
send the rest of a suspect domain's jobs once its probe answers), so `Client.post` sends one job
and answers with its Result; `deliver_many` sends a list and answers when the last is done. One
session for all: keep-alive per host, at most total_concurrency requests in flight and
per_host_limit to one host (one until the host has answered once), jobs to one inbox in the
order they were handed in, and a deadline per request that starts once the request has its
slots (queueing behind slow hosts never counts). With signing_threads, requests are signed in a
thread pool: `cryptography` (47 and later) releases the interpreter lock while it signs, so one
event loop keeps several cores signing.
"""

import asyncio
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from federation.addresses import AddressPolicy, ip_literal, odd_ipv4
from federation.errors import FederationError, Unresolvable, UnsafeAddress
from federation.signatures import Signer
from federation.transport import USER_AGENT
from federation.vocab import ACTIVITY_JSON

OK, RETRY, GONE, FAILED = "ok", "retry", "gone", "failed"
SKIPPED = "skipped"  # not attempted: its host failed at the network level moments ago
MAX_RETRY_AFTER = 30 * 24 * 3600.0
MAX_RESPONSE = 65536


class Job(NamedTuple):
    """One POST to make: a pre-serialised body to an inbox, signed by a Signer."""

    id: object
    inbox: str
    body: bytes
    signer: Signer


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one job; kind is ok, retry, gone or failed."""

    job_id: object
    status: int | None
    retry_after: float | None
    error: str
    kind: str


def classify(status: int) -> str:
    """2xx ok; 410 gone; 408, 429 and 5xx retry; any other status failed."""
    if 200 <= status < 300:
        return OK
    if status == 410:
        return GONE
    if status in (408, 429) or 500 <= status < 600:
        return RETRY
    return FAILED


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP-date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value[:12]), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    delay = when.timestamp() - (time.time() if now is None else now)
    return min(max(delay, 0.0), MAX_RETRY_AFTER)


class PolicyResolver(AbstractResolver):
    """An aiohttp resolver that resolves once through AddressPolicy.vet, so aiohttp connects only
    to vetted addresses (IP literals never reach a resolver: Client.post vets them itself)."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """The vetted addresses of host; UnsafeAddress or Unresolvable otherwise."""
        addresses = await asyncio.get_running_loop().run_in_executor(None, self.policy.vet, host, port)
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST) for address in addresses]

    async def close(self) -> None:
        """Nothing to release."""


class _Host:
    """Slots for one host: one request until the host has answered once (a dead host then holds
    one slot, not per_host_limit), and a flag once a request to it failed at the network level."""

    def __init__(self, limit: int):
        self.slots = asyncio.Semaphore(1)
        self.limit = limit
        self.answered = self.down = False

    def learn(self, result: Result) -> None:
        """Widen to the full limit after the first answer; mark down after a network failure."""
        if result.status is not None:
            self.down = False
            if not self.answered:
                self.answered = True
                for _ in range(self.limit - 1):
                    self.slots.release()
        elif result.kind == RETRY:
            self.down = True


class Client:
    """One aiohttp session for many deliveries; use as `async with Client(policy) as client`."""

    def __init__(self, policy: AddressPolicy, *, per_host_limit: int = 8, total_concurrency: int = 512,
                 timeout: float = 20.0, signing_threads: int = 0):
        self.policy, self.per_host_limit, self.timeout = policy, per_host_limit, timeout
        self.signing_threads = signing_threads
        self.signing: ThreadPoolExecutor | None = None
        self.total = asyncio.Semaphore(total_concurrency)
        self.hosts: dict[str, _Host] = {}
        self.inboxes: dict[str, asyncio.Lock] = {}
        self.session = None

    async def __aenter__(self) -> "Client":
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, resolver=PolicyResolver(self.policy),
                                         happy_eyeballs_delay=None, ttl_dns_cache=60,
                                         enable_cleanup_closed=True)
        # One deadline per delivery, aiohttp's own: resolving, connecting, sending and reading the answer.
        # No cookies: a peer's cookies have nothing to do with deliveries, and a jar grows with every server.
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False,
                                             cookie_jar=aiohttp.DummyCookieJar(),
                                             skip_auto_headers=("Accept-Encoding",),
                                             timeout=aiohttp.ClientTimeout(total=self.timeout))
        if self.signing_threads:
            self.signing = ThreadPoolExecutor(self.signing_threads, thread_name_prefix="signing")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()
        if self.signing is not None:
            self.signing.shutdown(wait=False)

    async def deliver(self, jobs: list[Job]) -> list[Result]:
        """POST every job (a Job or a tuple of its fields) concurrently; one Result per job, in order."""
        return list(await asyncio.gather(*(self.post(Job(*job)) for job in jobs)))

    async def post(self, job: Job, on_start: Callable[[], None] | None = None) -> Result:
        """POST one job once its inbox, its host and the client have a free slot (SKIPPED when its
        host failed at the network level earlier in this client's life); on_start() is called once
        the job holds its slots, before it is signed."""
        try:
            parts = urlsplit(job.inbox)
            host = (parts.hostname or "").strip("[]")
            port = parts.port or 0
        except ValueError as exc:  # e.g. a port that is not a number
            return Result(job.id, None, None, f"bad inbox URL: {exc}"[:300], FAILED)
        if parts.scheme not in ("http", "https") or not host:
            return Result(job.id, None, None, "not an http(s) inbox", FAILED)
        try:
            if ip_literal(host) is not None or odd_ipv4(host) is not None:  # aiohttp resolves no literal
                self.policy.vet(host, port)
        except UnsafeAddress as exc:
            return Result(job.id, None, None, f"refused address: {exc}"[:300], FAILED)
        netloc = parts.netloc.lower()
        if netloc not in self.hosts:
            self.hosts[netloc] = _Host(self.per_host_limit)
        if job.inbox not in self.inboxes:
            self.inboxes[job.inbox] = asyncio.Lock()
        state = self.hosts[netloc]
        async with self.inboxes[job.inbox], state.slots:
            if state.down:
                return Result(job.id, None, None, "not attempted: the host failed moments ago", SKIPPED)
            async with self.total:
                if on_start is not None:
                    on_start()
                result = await self._send(job)
            state.learn(result)
            return result

    async def _signed_headers(self, job: Job) -> dict:
        """The request's headers with its signature, signed on a signing thread when there are any."""
        if self.signing is None:
            return _sign(job)
        return await asyncio.get_running_loop().run_in_executor(self.signing, _sign, job)

    async def _send(self, job: Job) -> Result:
        try:
            headers = await self._signed_headers(job)
            async with self.session.post(job.inbox, data=job.body, headers=headers,
                                         allow_redirects=False) as response:
                await response.content.read(MAX_RESPONSE)
        except TimeoutError:
            return Result(job.id, None, None, f"no answer within {self.timeout:g} s", RETRY)
        except UnsafeAddress as exc:  # a host name resolving to a refused address
            return Result(job.id, None, None, f"refused address: {exc}"[:300], FAILED)
        except (Unresolvable, aiohttp.ClientError, OSError) as exc:
            return Result(job.id, None, None, f"{type(exc).__name__}: {exc}"[:300], RETRY)
        except (FederationError, ValueError) as exc:
            return Result(job.id, None, None, f"{type(exc).__name__}: {exc}"[:300], FAILED)
        kind = classify(response.status)
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if kind == RETRY else None
        return Result(job.id, response.status, retry_after, "" if kind == OK else f"HTTP {response.status}",
                      kind)


def _sign(job: Job) -> dict:
    return job.signer.sign("POST", job.inbox, body=job.body,
                           headers={"Content-Type": ACTIVITY_JSON, "User-Agent": USER_AGENT})


async def deliver_many(jobs, *, policy: AddressPolicy, per_host_limit: int = 8, total_concurrency: int = 512,
                       timeout: float = 20.0, signing_threads: int = 0) -> list[Result]:
    """POST every job concurrently through one Client; one Result per job, in the order of the jobs."""
    async with Client(policy, per_host_limit=per_host_limit, total_concurrency=total_concurrency,
                      timeout=timeout, signing_threads=signing_threads) as client:
        return await client.deliver(list(jobs))


def deliver_many_sync(jobs, **options) -> list[Result]:
    """deliver_many run on a fresh event loop (for scripts and tests without a loop)."""
    return asyncio.run(deliver_many(jobs, **options))
