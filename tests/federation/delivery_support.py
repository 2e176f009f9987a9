"""Shared by the delivery tests: fake peers on loopback, remote followers, publishing."""

import os
import socket
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from bench.sinks import Sink
from hub.extensions import db
from hub.models import Actor, Delivery, DomainState, Follow
from hub.models.base import utcnow
from hub.services import delivery

HUB = str(Path(sys.executable).parent / "hub")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 (used on every 127.0.0.x sink)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Peers:
    """Starts fake servers (bench.sinks) on loopback and stops them all at the end of a test."""

    def __init__(self):
        self.started: list[Sink] = []

    def __call__(self, behaviours: dict) -> Sink:
        """Start a sink serving {(host, port): Behaviour}."""
        sink = Sink(dict(behaviours)).start_in_thread()
        self.started.append(sink)
        return sink

    def stop_all(self) -> None:
        """Stop every sink started."""
        for sink in self.started:
            sink.stop()


def add_followers(org, host, port, count=1, shared=True):
    """Remote followers on host:port; with a shared inbox unless shared=False."""
    base = f"http://{host}:{port}"
    actors = []
    for n in range(count):
        actor = Actor(type="Person", handle=f"u{n}", domain=f"{host}:{port}", uri=f"{base}/users/u{n}",
                      inbox=f"{base}/users/u{n}/inbox", shared_inbox=f"{base}/inbox" if shared else None)
        db.session.add(actor)
        db.session.flush()
        db.session.add(Follow(follower_id=actor.id, target_id=org.id, state=Follow.ACCEPTED))
        actors.append(actor)
    db.session.commit()
    return actors


def publish(org, n=1):
    """What the outbox does for a post: one Create to every follower inbox, committed."""
    activity = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{org.uri}/activities/{n}",
                "type": "Create", "actor": org.uri,
                "object": {"id": f"{org.uri}/notes/{n}", "type": "Note", "content": "ນ້ຳຖ້ວມ"}}
    delivery.enqueue(activity, org, delivery.follower_inboxes(org))
    db.session.commit()
    return activity


def time_passes():
    """Move every pending row and domain pause into the past, as if the clock had run on."""
    past = utcnow() - timedelta(seconds=1)
    db.session.execute(update(Delivery).where(Delivery.state == "queued").values(next_attempt_at=past))
    db.session.execute(update(DomainState).values(paused_until=past))
    db.session.commit()


def worker_env(app, **extra) -> dict:
    """The environment of a `hub worker` process on the test's database."""
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               HUB_DOMAIN=app.config["HUB_DOMAIN"], HUB_SCHEME="http", HUB_SECRET_KEY="test",
               HUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", HUB_INSTANCE_DIR=app.config["HUB_INSTANCE_DIR"])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def spread_followers(org, port, hosts, per_host):
    """Followers with personal inboxes on 127.0.1.1 … so every one is its own delivery."""
    addresses = [(f"127.0.1.{n + 1}", port) for n in range(hosts)]
    for host, _ in addresses:
        add_followers(org, host, port, count=per_host, shared=False)
    return addresses


def delivery_count(*conditions) -> int:
    """Delivery rows matching the conditions, as committed now."""
    db.session.expire_all()
    count = db.session.scalar(select(func.count()).select_from(Delivery).where(*conditions))
    db.session.rollback()
    return count


def done_count() -> int:
    """Deliveries done, as committed now."""
    return delivery_count(Delivery.state == "done")
