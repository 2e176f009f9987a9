"""A long-lived delivery client for the worker, built on federation.delivery's pieces (Job,
Result, classify, parse_retry_after, PolicyResolver).

federation.delivery.deliver_many answers when its last job is done; the worker needs each
outcome as it comes (to record it, to free the row for the next claim, to send the rest of a
suspect domain's jobs once its probe answers), so this client posts one job at a time on one
shared session: keep-alive per host, at most total_concurrency requests in flight and
per_host_limit to one host, jobs to one inbox in the order they were handed in, and a deadline
per request that starts once the request has its slots (queueing behind slow hosts never counts).
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp

from federation.addresses import AddressPolicy
from federation.delivery import FAILED, OK, RETRY, Job, PolicyResolver, Result, classify, parse_retry_after
from federation.errors import FederationError, Unresolvable, UnsafeAddress
from federation.transport import USER_AGENT
from federation.vocab import ACTIVITY_JSON

__all__ = ["SKIPPED", "Client", "Job", "Result", "deliver_many"]
MAX_RESPONSE = 65536
SKIPPED = "skipped"  # not attempted: its host failed at the network level moments ago


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


def _literal(host: str) -> bool:
    """True for IP addresses in any notation (aiohttp never hands those to a resolver)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        try:
            socket.inet_aton(host)
            return True
        except OSError:
            return False


class Client:
    """One aiohttp session for many deliveries; use as `async with Client(policy) as client`."""

    def __init__(self, policy: AddressPolicy, *, per_host_limit: int = 8, total_concurrency: int = 512,
                 timeout: float = 20.0):
        self.policy, self.per_host_limit, self.timeout = policy, per_host_limit, timeout
        self.total = asyncio.Semaphore(total_concurrency)
        self.hosts: dict[str, _Host] = {}
        self.inboxes: dict[str, asyncio.Lock] = {}
        self.session = None

    async def __aenter__(self) -> "Client":
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, resolver=PolicyResolver(self.policy),
                                         happy_eyeballs_delay=None, ttl_dns_cache=60,
                                         enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False,
                                             skip_auto_headers=("Accept-Encoding",))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def deliver(self, jobs: list[Job]) -> list[Result]:
        """POST every job concurrently; one Result per job, in the order of the jobs."""
        return list(await asyncio.gather(*(self.post(job) for job in jobs)))

    async def post(self, job: Job) -> Result:
        """POST one job once its inbox, its host and the client have a free slot (SKIPPED when its
        host failed at the network level earlier in this client's life)."""
        parts = urlsplit(job.inbox)
        host = (parts.hostname or "").strip("[]")
        if parts.scheme not in ("http", "https") or not host:
            return Result(job.id, None, None, "not an http(s) inbox", FAILED)
        try:
            if _literal(host):
                self.policy.vet(host, parts.port or 0)
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
                result = await self._send(job)
            state.learn(result)
            return result

    async def _send(self, job: Job) -> Result:
        try:
            headers = job.signer.sign("POST", job.inbox, body=job.body,
                                      headers={"Content-Type": ACTIVITY_JSON, "User-Agent": USER_AGENT})
            async with asyncio.timeout(self.timeout):
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


async def deliver_many(jobs: list[Job], *, policy: AddressPolicy, per_host_limit: int = 8,
                       total_concurrency: int = 512, timeout: float = 20.0) -> list[Result]:
    """POST every job concurrently through one Client; one Result per job, in order."""
    async with Client(policy, per_host_limit=per_host_limit, total_concurrency=total_concurrency,
                      timeout=timeout) as client:
        return await client.deliver(jobs)
