"""Boosts, likes and their undoing sent from the hub to a fake peer; key rotation picked up
with one refetch per cool-off."""

import json

import pytest
from fakepeer import HUB, PUBLIC, key_pair
from sqlalchemy import select

from hub import worker
from hub.extensions import db
from hub.models import Boost, Follow, Like, Post
from hub.services import NotFound, ServiceError, inbox, posts, social

AP = {"Accept": "application/activity+json"}


@pytest.fixture
def follower(client, org, peer):
    """A remote follower of the organisation (Follow processed and accepted)."""
    bob = peer.add_actor("bob")
    bob.post_to(client, "/inbox", bob.activity("Follow", org.uri))
    inbox.process_due(10)
    worker.run_once()
    peer.inbox.clear()
    return bob


def test_boost_of_a_remote_post_by_url_in_mastodons_shape(client, org, owner, peer, follower, peers):
    other = peers("127.0.0.6")
    carol = other.add_actor("carol")
    note = carol.note("<p>ຂ່າວ</p>")
    boost = social.boost(org, note["url"], user=owner)
    assert boost.uri == f"{HUB}/actors/lao_cso/boosts/{boost.id}"
    stored = db.session.scalar(select(Post).where(Post.uri == note["id"]))
    assert stored is not None and not stored.local and stored.actor.uri == carol.uri
    worker.run_once()
    [to_follower] = peer.received("Announce")
    [to_author] = other.received("Announce")
    assert to_follower == to_author
    assert to_follower["id"] == boost.uri and to_follower["actor"] == org.uri
    assert to_follower["object"] == note["id"]  # a URI, never an embedded copy
    assert to_follower["to"] == [PUBLIC]
    assert to_follower["cc"] == [carol.uri, org.followers_url]
    outbox = client.get("/actors/lao_cso/outbox?page=1", headers=AP)
    assert [i["type"] for i in outbox.get_json(force=True)["orderedItems"]] == ["Announce"]
    assert client.get(boost.uri.removeprefix(HUB), headers=AP).status_code == 200
    assert social.boost(org, note["id"], user=owner).id == boost.id  # boosting twice changes nothing

    social.unboost(org, note["id"], user=owner)
    worker.run_once()
    [undo] = peer.received("Undo")
    assert undo["actor"] == org.uri
    assert undo["object"] == {"id": boost.uri, "type": "Announce", "actor": org.uri, "object": note["id"]}
    assert db.session.query(Boost).count() == 0
    assert client.get(boost.uri.removeprefix(HUB), headers=AP).status_code == 404


def test_boost_of_our_own_or_another_orgs_post(client, org, owner, make_org, follower, peer):
    other = make_org("other_cso", "Other")
    theirs = posts.publish_as_operator(other, "ຂ່າວ", language="lo")
    social.boost(org, theirs.uri, user=owner)
    worker.run_once()
    [announce] = peer.received("Announce")
    assert announce["object"] == theirs.uri
    assert announce["cc"] == [other.uri, org.followers_url]


def test_only_public_posts_can_be_boosted(client, org, owner, peer):
    private = posts.create_post(org, owner, "secret", language="en", visibility="followers")
    with pytest.raises(ServiceError):
        social.boost(org, private.uri, user=owner)
    carol = peer.add_actor("carol")
    note = carol.note("followers only", to=[f"{carol.uri}/followers"], cc=[])
    with pytest.raises(ServiceError):
        social.boost(org, note["id"], user=owner)
    with pytest.raises(NotFound):
        social.boost(org, f"{peer.base}/nothing/here", user=owner)


def test_contributors_may_not_boost(client, org, make_user, peer):
    contributor = make_user("c@example.org", org=org, role="contributor")
    note = peer.add_actor("carol").note("hi")
    with pytest.raises(ServiceError):
        social.boost(org, note["id"], user=contributor)


def test_like_and_unlike_a_remote_post(client, org, owner, peer):
    carol = peer.add_actor("carol", shared_inbox=False)
    note = carol.note("like me")
    like = social.like(org, note["id"], user=owner)
    worker.run_once()
    [sent] = peer.received("Like")
    assert sent == {"@context": "https://www.w3.org/ns/activitystreams", "id": like.uri, "type": "Like",
                    "actor": org.uri, "object": note["id"], "to": [carol.uri]}
    assert peer.inbox[0].path == "/users/carol/inbox"
    social.unlike(org, note["id"], user=owner)
    worker.run_once()
    [undo] = peer.received("Undo")
    assert undo["object"]["id"] == like.uri and undo["object"]["type"] == "Like"
    assert db.session.query(Like).count() == 0


def test_key_rotation_is_picked_up_with_one_refetch_per_cooloff(client, app, org, peer):
    alice = peer.add_actor("alice")
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{HUB}/@lao_cso/1")).status_code == 202
    private, public = key_pair()
    while public == alice.public_pem:
        private, public = key_pair()
    alice.private_pem, alice.public_pem = private, public
    alice.document["publicKey"]["publicKeyPem"] = public
    peer.publish_actor(alice)
    fetches = lambda: len([r for r in peer.requests if r.path == "/users/alice"])  # noqa: E731
    before = fetches()
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{HUB}/@lao_cso/2")).status_code == 202
    assert fetches() == before + 1
    # a forged signature from the same host within the cool-off triggers no further fetch
    mallory_key = key_pair()[0]
    alice.private_pem = mallory_key
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{HUB}/@lao_cso/3")).status_code == 401
    assert fetches() == before + 1


def test_followers_only_post_is_delivered_to_accepted_follower_only(client, org, owner, peer, follower):
    waiting = peer.add_actor("waiting")
    org.manually_approves_followers = True
    db.session.commit()
    waiting.post_to(client, "/inbox", waiting.activity("Follow", org.uri))
    inbox.process_due(10)
    assert db.session.scalar(select(Follow).where(Follow.uri.is_not(None), Follow.state == Follow.PENDING))
    other_host = peer  # both on the same server: only one shared-inbox delivery, for the accepted one
    posts.create_post(org, owner, "members only", language="en", visibility="followers")
    worker.run_once()
    [create] = other_host.received("Create")
    assert create["object"]["to"] == [org.followers_url]
    assert json.dumps(create).count(PUBLIC) == 0
