"""Bulk delivery for the worker: signed POSTs sent concurrently with aiohttp, through a resolver
that applies the AddressPolicy, with per-host and total limits and a deadline per request."""

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from federation.addresses import AddressPolicy
from federation.errors import FederationError, FetchError, Unresolvable, UnsafeAddress
from federation.signatures import Signer
from federation.transport import USER_AGENT, clean_url
from federation.vocab import ACTIVITY_JSON, normalise_host

OK, RETRY, GONE, FAILED = "ok", "retry", "gone", "failed"
MAX_RETRY_AFTER = 30 * 24 * 3600.0
_RESPONSE_READ = 65536


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
    to vetted addresses (IP literals never reach a resolver: deliver_many vets them itself)."""

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


def _ssl(verify: bool | str):
    if verify is True:
        return True
    if verify is False:
        return False
    return ssl.create_default_context(cafile=verify)


def _vet_literal(policy: AddressPolicy, url: str) -> None:
    """Vet hosts that are IP addresses: aiohttp never hands those to a resolver."""
    parts = urlsplit(url)
    host = (parts.hostname or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            socket.inet_aton(host)  # an odd IPv4 notation such as 2130706433 or 127.1
        except OSError:
            return
    policy.vet(host, parts.port or 0)


class _Sender:
    def __init__(self, session: aiohttp.ClientSession, policy: AddressPolicy, per_host_limit: int,
                 total_concurrency: int, timeout: float):
        self.session, self.policy = session, policy
        self.per_host_limit, self.timeout = per_host_limit, timeout
        self.total = asyncio.Semaphore(total_concurrency)
        self.hosts: dict[str, asyncio.Semaphore] = {}

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        host = normalise_host(url)
        if host not in self.hosts:
            self.hosts[host] = asyncio.Semaphore(self.per_host_limit)
        return self.hosts[host]

    async def send(self, job) -> Result:
        job_id, inbox, body, signer = job
        try:
            url = clean_url(inbox)
            _vet_literal(self.policy, url)
            limit = self._host_limit(url)
        except UnsafeAddress as exc:
            return Result(job_id, None, None, str(exc), FAILED)
        except (FetchError, ValueError) as exc:
            return Result(job_id, None, None, f"bad inbox URL: {exc}", FAILED)
        async with limit, self.total:
            try:
                return await asyncio.wait_for(self._post(job_id, url, body, signer), self.timeout)
            except TimeoutError:
                return Result(job_id, None, None, f"no answer within {self.timeout:g} s", RETRY)
            except (UnsafeAddress, aiohttp.InvalidURL) as exc:
                return Result(job_id, None, None, f"{type(exc).__name__}: {exc}"[:500], FAILED)
            except (Unresolvable, aiohttp.ClientError, OSError) as exc:
                return Result(job_id, None, None, f"{type(exc).__name__}: {exc}"[:500], RETRY)
            except (FederationError, ValueError) as exc:
                return Result(job_id, None, None, f"{type(exc).__name__}: {exc}"[:500], FAILED)

    async def _post(self, job_id, url: str, body: bytes, signer: Signer) -> Result:
        headers = signer.sign("POST", url, body, {"Content-Type": ACTIVITY_JSON, "User-Agent": USER_AGENT})
        async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            await response.content.read(_RESPONSE_READ)
            kind = classify(response.status)
            retry_after = parse_retry_after(response.headers.get("Retry-After")) if kind == RETRY else None
            error = "" if kind == OK else f"HTTP {response.status}"
            return Result(job_id, response.status, retry_after, error, kind)


async def deliver_many(jobs, *, policy: AddressPolicy, per_host_limit: int = 8, total_concurrency: int = 256,
                       timeout: float = 15.0, verify: bool | str = True) -> list[Result]:
    """Send the jobs concurrently (those to one inbox one after another, in order); one Result per
    job, in the order of the jobs."""
    jobs = list(jobs)
    if not jobs:
        return []
    connector = aiohttp.TCPConnector(limit=total_concurrency, limit_per_host=per_host_limit,
                                     resolver=PolicyResolver(policy), ttl_dns_cache=60, ssl=_ssl(verify))
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout, trust_env=False,
                                     auto_decompress=False) as session:
        sender = _Sender(session, policy, per_host_limit, total_concurrency, timeout)
        results: list = [None] * len(jobs)
        by_inbox: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_inbox.setdefault(str(job[1]), []).append(index)

        async def in_order(indexes: list[int]) -> None:
            for index in indexes:
                results[index] = await sender.send(jobs[index])

        await asyncio.gather(*(in_order(indexes) for indexes in by_inbox.values()))
        return results


def deliver_many_sync(jobs, **options) -> list[Result]:
    """deliver_many run on a fresh event loop (for scripts and tests without a loop)."""
    return asyncio.run(deliver_many(jobs, **options))
