"""A fake fediverse for the fan-out benchmarks: remote followers spread over many loopback
servers (80 % with a shared inbox), written in bulk, and one published post."""

import random
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select

from bench.sinks import loopback_addresses
from hub.extensions import db
from hub.models import Actor, Delivery, Follow, OutgoingActivity
from hub.services import delivery, orgs, posts


@dataclass
class Network:
    """Where the followers of one organisation live, and what a delivery to all of them must hit."""

    org_id: int
    addresses: list[tuple[str, int]]
    shared: set[tuple[str, int]]
    expected: set[str] = field(default_factory=set)  # "host:port/path" the hub must POST to
    follower_inboxes: list[str] = field(default_factory=list)  # one per follower (for naive)

    def paths_of(self, address: tuple[str, int]) -> set[str]:
        """The expected "host:port/path" keys on one server."""
        prefix = f"{address[0]}:{address[1]}/"
        return {key for key in self.expected if key.startswith(prefix)}


def build(handle: str, followers: int, servers: int, port: int, first_octet: int = 2,
          shared_ratio: float = 0.8, seed: int = 7, scheme: str = "http") -> Network:
    """Create an organisation and its remote followers, `followers // servers` on each server."""
    org = orgs.create_org(handle, f"Bench {handle}")
    addresses = loopback_addresses(servers, port, first_octet)
    rng = random.Random(seed)
    shared = set(rng.sample(addresses, round(servers * shared_ratio)))
    network = Network(org.id, addresses, shared)
    rows = []
    for n in range(followers):
        host, port_ = addresses[n % servers]
        base = f"{scheme}://{host}:{port_}"
        inbox = f"{base}/users/f{n}/inbox"
        has_shared = (host, port_) in shared
        rows.append({"type": "Person", "handle": f"f{n}", "domain": f"{host}:{port_}",
                     "uri": f"{base}/users/f{n}", "inbox": inbox,
                     "shared_inbox": f"{base}/inbox" if has_shared else None, "name": "",
                     "bio_lo": "", "bio_en": "", "summary_html": "", "manually_approves_followers": False,
                     "discoverable": False, "show_follows": False, "requires_review": False,
                     "default_language": "lo", "suspended": False, "gone": False})
        network.expected.add(f"{host}:{port_}/inbox" if has_shared else f"{host}:{port_}/users/f{n}/inbox")
        network.follower_inboxes.append(inbox)
    for start in range(0, len(rows), 5000):
        ids = db.session.scalars(insert(Actor).returning(Actor.id), rows[start:start + 5000]).all()
        db.session.execute(insert(Follow), [{"follower_id": i, "target_id": org.id, "state": Follow.ACCEPTED}
                                            for i in ids])
    db.session.commit()
    return network


def note(org: Actor, n: int) -> dict:
    """A Create{Note} in the hub's shape, for when the outbox service does not build one."""
    note_id = f"{org.uri}/bench/{n}"
    return {"@context": ["https://www.w3.org/ns/activitystreams"], "id": f"{note_id}/activity",
            "type": "Create", "actor": org.uri, "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [org.followers_url],
            "object": {"id": note_id, "type": "Note", "attributedTo": org.uri, "content":
                       "<p>ນ້ຳຖ້ວມ: ກະລຸນາຍ້າຍໄປບ່ອນສູງ. Flood warning: move to higher ground.</p>",
                       "contentMap": {"lo": "<p>ນ້ຳຖ້ວມ</p>"}, "to": ["https://www.w3.org/ns/activitystreams#Public"]}}


def publish(network: Network, n: int) -> tuple[int, str]:
    """Publish a post the way staff do and return (activity id, how it was queued)."""
    org = db.session.get(Actor, network.org_id)
    post = posts.publish_as_operator(org, f"ນ້ຳຖ້ວມ {n}: ກະລຸນາຍ້າຍໄປບ່ອນສູງ. Flood warning {n}.", language="lo")
    queued = db.session.scalar(select(OutgoingActivity.id).where(OutgoingActivity.post_id == post.id))
    if queued is not None:
        return queued, "posts.publish_as_operator"
    outgoing = delivery.enqueue(note(org, n), org, delivery.follower_inboxes(org))
    db.session.commit()
    return outgoing.id, "delivery.enqueue (the outbox service queued nothing)"


def pending(activity_id: int) -> int:
    """Deliveries of an activity not yet done."""
    return db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.activity_id == activity_id, Delivery.state == "queued")) or 0
