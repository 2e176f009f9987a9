"""What the inbox endpoints look up on every POST, kept a few seconds per web process (per app):
the blocked domains, how many activities each server has waiting, and keys that verified.

A blocked domain is seen within BLOCKED_SECONDS by every process (at once by the one that
blocked it). The flood limit is approximate: the waiting counts are read at most once per
FLOOD_SECONDS per process (less often while the query is slow: a long backlog makes it so), plus
what this process stored since. A cached key only ever short-cuts a signature that verifies with
it, from the actor that owned it; any failure goes back to the database and the origin (so a
rotated key is picked up at once), and a replaced key may still verify in a process that cached
it for at most KEY_SECONDS.
"""

import threading
import time
from collections import defaultdict

from flask import current_app
from sqlalchemy import func, select

from hub import changes, convert
from hub.extensions import db
from hub.models import DomainState, InboxItem
from hub.models.activity import QUEUED

BLOCKED_SECONDS = 2.0
FLOOD_SECONDS = 1.0
FLOOD_COST_SHARE = 0.05  # the waiting counts take at most this share of one request thread's time
KEY_SECONDS = 60.0
MAX_KEYS = 10_000
_EXTENSION = "hub.inbox_cache"
_DOMAIN_STATES = changes.counter(lambda table: table == DomainState.__tablename__)


class InboxCache:
    """The per-app state; every method is safe to call from concurrent request threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.blocked: frozenset[str] = frozenset()
        self.blocked_until = 0.0
        self.blocked_generation = -1
        self.waiting: dict[str, int] = {}
        self.added: dict[str, int] = defaultdict(int)
        self.waiting_until = 0.0
        self.refreshing = False
        self.keys: dict[str, tuple[str, str, float]] = {}

    # --- blocked domains -------------------------------------------------------------------------

    def domain_blocked(self, host: str) -> bool:
        """True when the domain is blocked here (the list re-read every BLOCKED_SECONDS)."""
        now = time.monotonic()
        if now >= self.blocked_until or self.blocked_generation != _DOMAIN_STATES.value:
            generation = _DOMAIN_STATES.value
            blocked = frozenset(db.session.scalars(select(DomainState.domain)
                                                   .where(DomainState.blocked.is_(True))))
            self.blocked, self.blocked_generation = blocked, generation
            self.blocked_until = now + BLOCKED_SECONDS
        return host in self.blocked

    # --- waiting activities per server -----------------------------------------------------------

    def flooding(self, host: str, limit: int) -> bool:
        """True when the server has about `limit` activities or more waiting to be processed."""
        now = time.monotonic()
        with self.lock:
            stale = now >= self.waiting_until and not self.refreshing
            if stale:
                self.refreshing = True
        if stale:
            try:
                counts = self._waiting_counts()
            finally:
                with self.lock:
                    self.refreshing = False
            took = time.monotonic() - now
            with self.lock:
                self.waiting, self.added = counts, defaultdict(int)
                self.waiting_until = time.monotonic() + refresh_interval(took)
        with self.lock:
            return self.waiting.get(host, 0) + self.added[host] >= limit

    def stored(self, host: str) -> None:
        """Count an activity this process stored (until the next read of the waiting counts)."""
        with self.lock:
            self.added[host] += 1

    def forget_waiting(self) -> None:
        """Read the waiting counts again at the next check (items were processed)."""
        with self.lock:
            self.waiting_until = 0.0

    @staticmethod
    def _waiting_counts() -> dict[str, int]:
        rows = db.session.execute(select(InboxItem.actor_uri, func.count())
                                  .where(InboxItem.state == QUEUED).group_by(InboxItem.actor_uri))
        counts: dict[str, int] = defaultdict(int)
        for actor_uri, count in rows:
            counts[convert.host_of(actor_uri)] += count
        return dict(counts)

    # --- keys that verified ----------------------------------------------------------------------

    def key(self, key_id: str) -> tuple[str, str] | None:
        """(owner actor id, public key PEM) of a key that verified within KEY_SECONDS, else None."""
        entry = self.keys.get(key_id)
        if entry is None or entry[2] < time.monotonic():
            return None
        return entry[0], entry[1]

    def remember_key(self, key_id: str, actor_uri: str, pem: str) -> None:
        """Keep a key that just verified a signature for KEY_SECONDS."""
        if len(self.keys) >= MAX_KEYS:
            now = time.monotonic()
            self.keys = {k: v for k, v in self.keys.items() if v[2] >= now}
            if len(self.keys) >= MAX_KEYS:
                self.keys = {}
        self.keys[key_id] = (actor_uri, pem, time.monotonic() + KEY_SECONDS)

    def forget_key(self, key_id: str) -> None:
        """Drop a key (it failed to verify, or its owner changed)."""
        self.keys.pop(key_id, None)


def refresh_interval(query_seconds: float) -> float:
    """Seconds until the waiting counts are read again, given how long reading them took."""
    return max(FLOOD_SECONDS, query_seconds / FLOOD_COST_SHARE)


def cache() -> InboxCache:
    """This app's inbox cache in this process."""
    extensions = current_app.extensions
    found = extensions.get(_EXTENSION)
    if found is None:
        found = extensions.setdefault(_EXTENSION, InboxCache())
    return found
