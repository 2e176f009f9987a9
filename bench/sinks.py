"""Fake fediverse servers: a small HTTP/1.1 server on many loopback addresses that records every
request and answers as told (accept, add latency, 503 with Retry-After, 410, never answer).

One event loop serves thousands of addresses, so a bench can stand up 1,000 "servers" cheaply;
tests run it in a thread and read the recorded requests (headers and bodies) to verify signatures.
"""

import asyncio
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

OK = "ok"
LATENCY = "latency"
UNAVAILABLE = "unavailable"  # 503 with Retry-After
GONE = "gone"  # 410
SILENT = "silent"  # accepts the connection, never answers
FORBIDDEN = "forbidden"  # 403, a permanent refusal

REASONS = {202: "Accepted", 403: "Forbidden", 410: "Gone", 503: "Service Unavailable"}


@dataclass
class Behaviour:
    """How one fake server answers; `script` overrides `kind` for the first requests (e.g. 503, 503)."""

    kind: str = OK
    delay: float = 0.0
    retry_after: int = 1
    script: list = field(default_factory=list)
    headers: str = ""  # more header lines for a 202, each ending in CRLF (e.g. a Set-Cookie)


@dataclass
class Received:
    """One request as a peer saw it."""

    address: str
    method: str
    path: str
    headers: dict
    body: bytes
    at: float


class _Connection(asyncio.Protocol):
    def __init__(self, sink: "Sink", address: str):
        self.sink, self.address = sink, address
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.sink.connections[self.address] += 1

    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            method, path, _ = (head[0].split(" ") + ["", ""])[:3]
            self.sink.receive(self, Received(self.address, method, path, headers, body, time.time()))

    def respond(self, status: int, extra: str = ""):
        if self.transport is None or self.transport.is_closing():
            return
        reason = REASONS.get(status, "OK")
        self.transport.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n{extra}\r\n".encode())

    def connection_lost(self, exc):
        self.transport = None


class Sink:
    """Serves many (host, port) addresses from one event loop and records what arrives."""

    def __init__(self, behaviours: dict[tuple[str, int], Behaviour], *, keep_bodies: bool = True,
                 keep_events: bool = False, tls: dict[str, tuple[str, str]] | None = None):
        self.addresses = list(behaviours)
        self.tls = tls  # host → (certificate, key) paths: HTTPS on every address, each with its own
        self.behaviours = {f"{host}:{port}": b for (host, port), b in behaviours.items()}
        self.keep_bodies, self.keep_events = keep_bodies, keep_events
        self.events: list[tuple[str, str, float, str]] = []
        self.received: list[Received] = []
        self.counts: Counter = Counter()
        self.connections: Counter = Counter()
        self.served: Counter = Counter()
        self.last_at = 0.0
        self.servers = []
        self.loop = None
        self._thread = None

    async def start(self) -> None:
        """Bind every address (raises when one cannot be bound)."""
        self.loop = asyncio.get_running_loop()
        contexts: dict[str, ssl.SSLContext] = {}
        for host, port in self.addresses:
            address = f"{host}:{port}"
            if self.tls and host not in contexts:
                contexts[host] = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                contexts[host].load_cert_chain(*self.tls[host])
            server = await self.loop.create_server(lambda a=address: _Connection(self, a), host, port,
                                                   backlog=512, reuse_address=True, ssl=contexts.get(host))
            self.servers.append(server)

    def receive(self, conn: _Connection, request: Received) -> None:
        """Record a request and answer it according to the address's behaviour."""
        behaviour = self.behaviours[conn.address]
        served = self.served[conn.address]
        self.served[conn.address] += 1
        kind = behaviour.script[served] if served < len(behaviour.script) else behaviour.kind
        if self.keep_events:
            self.events.append((conn.address, request.path, request.at, kind))
        if kind == SILENT:
            return
        if kind in (OK, LATENCY):
            self.counts[(conn.address, request.path)] += 1
            self.last_at = request.at
            if self.keep_bodies:
                self.received.append(request)
        if kind == LATENCY and behaviour.delay:
            self.loop.call_later(behaviour.delay, conn.respond, 202)
        elif kind == UNAVAILABLE:
            conn.respond(503, f"Retry-After: {behaviour.retry_after}\r\n")
        elif kind == GONE:
            conn.respond(410)
        elif kind == FORBIDDEN:
            conn.respond(403)
        else:
            conn.respond(202, behaviour.headers)

    def reset(self) -> None:
        """Forget what was received (the behaviours' scripts start again too)."""
        self.received.clear()
        self.events.clear()
        self.counts.clear()
        self.connections.clear()
        self.served.clear()
        self.last_at = 0.0

    def stats(self, detail: bool = False) -> dict:
        """Counts of what arrived; with detail, every event and per-address connection counts."""
        stats = {"distinct": len(self.counts), "total": sum(self.counts.values()), "last_at": self.last_at,
                 "requests": sum(self.served.values())}
        if detail:
            stats.update(events=list(self.events), connections=dict(self.connections),
                         counts={f"{a}{p}": n for (a, p), n in self.counts.items()})
        return stats

    def start_in_thread(self) -> "Sink":
        """Run the sink's event loop in a daemon thread (for tests); returns once bound."""
        ready = threading.Event()
        failure = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except Exception as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every listening socket and stop a thread started by start_in_thread."""
        if self.loop is None:
            return

        def close():
            for server in self.servers:
                server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(close)
        if self._thread:
            self._thread.join(5)


def loopback_addresses(count: int, port: int, first_octet: int = 1) -> list[tuple[str, int]]:
    """`count` distinct loopback (host, port) pairs 127.<first_octet>.x.y:port."""
    pairs = []
    for n in range(count):
        pairs.append((f"127.{first_octet + n // 62500}.{(n // 250) % 250}.{n % 250 + 1}", port))
    return pairs
