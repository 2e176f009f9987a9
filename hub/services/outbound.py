"""Concurrent signed POSTs of activities to inboxes, on aiohttp (DESIGN.md §2).

A stand-in with the contract the brief gives `federation.delivery.deliver_many`: jobs in, one
Result per job out (kind ok / retry / gone / failed). Every host is vetted by the AddressPolicy and
connected to at the vetted address; each request has a total deadline; redirects are not followed;
a response body is read to at most 64 kB.
"""

import asyncio
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from federation.addresses import AddressPolicy
from federation.errors import UnsafeAddress
from federation.signatures import Signer
from federation.vocab import ACTIVITY_JSON

USER_AGENT = "CSO-Hub/0.1 (ActivityPub)"
MAX_RESPONSE = 65536
RETRY_STATUSES = frozenset({401, 408, 425, 429})


@dataclass(slots=True)
class Job:
    """One activity body to POST to one inbox, signed by signer."""

    id: int
    inbox: str
    body: bytes
    signer: Signer


@dataclass(slots=True)
class Result:
    """What happened to a job: kind ok, retry (with retry_after seconds when told), gone or failed."""

    job_id: int
    status: int | None
    retry_after: float | None
    error: str
    kind: str


class _VettedResolver(AbstractResolver):
    """aiohttp resolver that only hands out addresses the policy allows, resolved once per host."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.cache: dict[tuple[str, int], list[str]] = {}

    async def vet(self, host: str, port: int) -> list[str]:
        """The vetted addresses of host (UnsafeAddress or Unresolvable otherwise), resolved once."""
        key = (host, port)
        if key not in self.cache:
            if _is_literal(host):
                self.cache[key] = self.policy.vet(host, port)
            else:
                loop = asyncio.get_running_loop()
                self.cache[key] = await loop.run_in_executor(None, self.policy.vet, host, port)
        return self.cache[key]

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict]:
        """aiohttp's hook for host names (it skips it for IP literals, which post vets itself)."""
        return [{"hostname": host, "host": ip, "port": port, "family": socket.AF_INET6 if ":" in ip
                 else socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}
                for ip in await self.vet(host, port)]

    async def close(self) -> None:
        """Nothing to release."""


def _is_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
        return True
    except OSError:
        return False


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 86400.0)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when - time.time(), 0.0), 86400.0)


def classify(status: int, retry_after: float | None) -> Result:
    """The Result kind of an HTTP answer (job id filled in by the caller)."""
    if 200 <= status < 300:
        return Result(0, status, None, "", "ok")
    if status == 410:
        return Result(0, status, None, "410 Gone", "gone")
    if status >= 500 or status in RETRY_STATUSES:
        return Result(0, status, retry_after, f"HTTP {status}", "retry")
    return Result(0, status, None, f"HTTP {status}", "failed")


class Client:
    """One aiohttp session for many deliveries: connections kept alive per host, at most
    total_concurrency requests in flight and per_host_limit to one host. A job's deadline starts
    when it has its slots, so waiting behind slow hosts never counts against it."""

    def __init__(self, policy: AddressPolicy, *, per_host_limit: int = 8, total_concurrency: int = 512,
                 timeout: float = 20.0):
        self.policy, self.per_host_limit, self.timeout = policy, per_host_limit, timeout
        self.total = asyncio.Semaphore(total_concurrency)
        self.hosts: dict[str, asyncio.Semaphore] = {}
        self.resolver = _VettedResolver(policy)
        self.session = None

    async def __aenter__(self) -> "Client":
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, resolver=self.resolver,
                                         happy_eyeballs_delay=None, use_dns_cache=False,
                                         enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                             skip_auto_headers=("Accept-Encoding",))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def deliver(self, jobs: list[Job]) -> list[Result]:
        """POST every job concurrently; one Result per job, in order."""
        return list(await asyncio.gather(*(self.post(job) for job in jobs)))

    async def post(self, job: Job) -> Result:
        """POST one job once a slot for its host and a slot overall are free."""
        parts = urlsplit(job.inbox)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Result(job.id, None, None, "not an http(s) inbox", "failed")
        host = parts.netloc.lower()
        if host not in self.hosts:
            self.hosts[host] = asyncio.Semaphore(self.per_host_limit)
        async with self.hosts[host], self.total:
            return await self._send(job, parts)

    async def _send(self, job: Job, parts) -> Result:
        try:
            await self.resolver.vet(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            headers = job.signer.sign("POST", job.inbox, body=job.body,
                                      headers={"Content-Type": ACTIVITY_JSON, "User-Agent": USER_AGENT})
            async with asyncio.timeout(self.timeout):
                async with self.session.post(job.inbox, data=job.body, headers=headers,
                                             allow_redirects=False) as resp:
                    await resp.content.read(MAX_RESPONSE)
                    result = classify(resp.status, retry_after_seconds(resp.headers.get("Retry-After")))
        except UnsafeAddress as exc:  # the address policy refused the host: never worth retrying
            return Result(job.id, None, None, f"refused address: {exc}"[:300], "failed")
        except TimeoutError:
            return Result(job.id, None, None, f"no answer within {self.timeout:g} s", "retry")
        except Exception as exc:  # noqa: BLE001 - network, protocol or a bug: this one job is retried
            return Result(job.id, None, None, f"{type(exc).__name__}: {exc}"[:300], "retry")
        result.job_id = job.id
        return result


async def deliver_many(jobs: list[Job], *, policy: AddressPolicy, per_host_limit: int = 8,
                       total_concurrency: int = 512, timeout: float = 20.0) -> list[Result]:
    """POST every job concurrently (keep-alive per host, bounded in total and per host)."""
    async with Client(policy, per_host_limit=per_host_limit, total_concurrency=total_concurrency,
                      timeout=timeout) as client:
        return await client.deliver(jobs)
