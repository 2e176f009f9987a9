"""Follows in both directions with a fake peer over real HTTP: Follow → Accept (or held for
approval), Undo, our follows pending until the target itself accepts, Reject, Block."""

import pytest
from sqlalchemy import select

from federation import signatures
from hub import worker
from hub.extensions import db
from hub.models import Block, Follow, InboxItem, Notification
from hub.services import inbox, social


def process():
    """Run the inbox processing the worker would run."""
    return inbox.process_due(100)


def follows_of(org):
    return db.session.scalars(select(Follow).where(Follow.target_id == org.id)).all()


def test_follow_is_accepted_and_the_accept_is_delivered_signed(client, org, peer):
    alice = peer.add_actor("alice")
    follow = alice.activity("Follow", org.uri)
    response = alice.post_to(client, "/actors/lao_cso/inbox", follow)
    assert response.status_code == 202
    assert process() == 1
    [row] = follows_of(org)
    assert (row.state, row.uri, row.follower.uri) == (Follow.ACCEPTED, follow["id"], alice.uri)
    assert [n.kind for n in db.session.scalars(select(Notification))] == ["follow"]
    stats = worker.run_once()
    assert stats["delivered"] == 1
    [accept] = peer.received("Accept")
    assert accept["actor"] == org.uri
    assert accept["object"]["id"] == follow["id"]
    assert accept["object"]["type"] == "Follow" and accept["object"]["actor"] == alice.uri
    [request] = peer.inbox
    assert request.path == "/users/alice/inbox"
    signatures.verify_request("POST", request.path, "", request.headers, request.body, org.public_key_pem)
    key_fetch = [r for r in peer.requests if r.method == "GET" and r.path == "/users/alice"]
    assert key_fetch, "the hub fetched the signer's key"
    instance = db.session.scalar(select(type(org)).where(type(org).type == "Application"))
    signatures.verify_request("GET", "/users/alice", "", key_fetch[0].headers, None, instance.public_key_pem)


def test_shared_inbox_receives_follows_too(client, org, peer):
    alice = peer.add_actor("alice")
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 202
    process()
    assert follows_of(org)[0].state == Follow.ACCEPTED


def test_replayed_follow_has_no_second_effect(client, org, peer):
    alice = peer.add_actor("alice")
    follow = alice.activity("Follow", org.uri)
    assert alice.post_to(client, "/inbox", follow).status_code == 202
    assert alice.post_to(client, "/inbox", follow).status_code == 202
    assert db.session.query(InboxItem).count() == 1
    process()
    worker.run_once()
    assert len(peer.received("Accept")) == 1
    assert db.session.query(Notification).count() == 1


def test_manual_approval_holds_the_follow_then_accepts(client, org, owner, peer):
    org.manually_approves_followers = True
    db.session.commit()
    alice = peer.add_actor("alice")
    follow = alice.activity("Follow", org.uri)
    alice.post_to(client, "/inbox", follow)
    process()
    [row] = follows_of(org)
    assert row.state == Follow.PENDING
    assert [n.kind for n in db.session.scalars(select(Notification))] == ["follow_request"]
    worker.run_once()
    assert peer.received() == []
    social.approve_follow(org, row.id, user=owner)
    worker.run_once()
    [accept] = peer.received("Accept")
    assert accept["object"]["id"] == follow["id"]
    assert follows_of(org)[0].state == Follow.ACCEPTED


def test_manual_approval_reject(client, org, owner, peer):
    org.manually_approves_followers = True
    db.session.commit()
    alice = peer.add_actor("alice")
    follow = alice.activity("Follow", org.uri)
    alice.post_to(client, "/inbox", follow)
    process()
    social.reject_follow(org, follows_of(org)[0].id, user=owner)
    worker.run_once()
    [reject] = peer.received("Reject")
    assert reject["object"]["id"] == follow["id"] and reject["actor"] == org.uri
    assert follows_of(org) == []


def test_owner_removes_a_follower_with_reject(client, org, owner, peer):
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    process()
    social.remove_follower(org, follows_of(org)[0].id, user=owner)
    worker.run_once()
    assert [a["type"] for a in peer.received()] == ["Accept", "Reject"]
    assert follows_of(org) == []


def test_undo_follow_by_the_follower_removes_it(client, org, peer):
    alice = peer.add_actor("alice")
    follow = alice.activity("Follow", org.uri)
    alice.post_to(client, "/inbox", follow)
    process()
    embedded = {"id": follow["id"], "type": "Follow", "actor": alice.uri, "object": org.uri}
    undo = alice.activity("Undo", embedded)
    assert alice.post_to(client, "/inbox", undo).status_code == 202
    process()
    assert follows_of(org) == []


def test_undo_follow_by_someone_else_is_refused(client, org, peer):
    alice, mallory = peer.add_actor("alice"), peer.add_actor("mallory")
    follow = alice.activity("Follow", org.uri)
    alice.post_to(client, "/inbox", follow)
    process()
    mallory.post_to(client, "/inbox", mallory.activity("Undo", follow["id"]))
    process()
    assert follows_of(org)[0].state == Follow.ACCEPTED
    item = db.session.scalar(select(InboxItem).where(InboxItem.actor_uri == mallory.uri))
    assert item.state == "failed" and "someone else" in item.error


def test_follow_of_unknown_actor_is_ignored(client, org, peer):
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Follow", "http://hub.test/actors/nobody"))
    process()
    assert db.session.query(Follow).count() == 0


def test_follow_of_unknown_inbox_is_404(client, org, peer):
    alice = peer.add_actor("alice")
    assert alice.post_to(client, "/actors/nobody/inbox", alice.activity("Follow", org.uri)).status_code == 404


# --- our follows -------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["handle", "acct", "url"])
def test_org_follows_by_handle_or_url_pending_until_the_target_accepts(client, org, owner, peer, how):
    bob = peer.add_actor("bob", manually_approves=True)
    account = {"handle": f"@bob@{peer.netloc}", "acct": f"acct:bob@{peer.netloc}", "url": bob.uri}[how]
    row = social.follow(org, account, user=owner)
    assert row.state == Follow.PENDING
    worker.run_once()
    [follow] = peer.received("Follow")
    assert follow["actor"] == org.uri and follow["object"] == bob.uri and follow["id"] == row.uri
    carol = peer.add_actor("carol")
    carol.post_to(client, "/inbox", carol.activity("Accept", follow))
    process()
    assert db.session.get(Follow, row.id).state == Follow.PENDING  # only bob may accept
    bob.post_to(client, "/inbox", bob.activity("Accept", follow["id"]))
    process()
    assert db.session.get(Follow, row.id).state == Follow.ACCEPTED
    kinds = [n.kind for n in db.session.scalars(select(Notification))]
    assert kinds == ["follow_accepted"]


def test_accept_with_embedded_follow_without_id_matches_by_pair(client, org, owner, peer):
    bob = peer.add_actor("bob")
    row = social.follow(org, f"bob@{peer.netloc}", user=owner)
    embedded = {"type": "Follow", "actor": org.uri, "object": bob.uri}
    bob.post_to(client, "/inbox", bob.activity("Accept", embedded))
    process()
    assert db.session.get(Follow, row.id).state == Follow.ACCEPTED


def test_reject_of_our_follow(client, org, owner, peer):
    bob = peer.add_actor("bob")
    row = social.follow(org, f"@bob@{peer.netloc}", user=owner)
    bob.post_to(client, "/inbox", bob.activity("Reject", row.uri))
    process()
    assert db.session.get(Follow, row.id).state == Follow.REJECTED


def test_unfollow_sends_undo_follow(client, org, owner, peer):
    bob = peer.add_actor("bob")
    row = social.follow(org, f"@bob@{peer.netloc}", user=owner)
    follow_id = row.uri
    social.unfollow(org, f"@bob@{peer.netloc}", user=owner)
    worker.run_once()
    undo = peer.received("Undo")[0]
    assert undo["object"]["id"] == follow_id and undo["object"]["type"] == "Follow"
    assert undo["actor"] == org.uri and undo["to"] == [bob.uri]
    assert db.session.query(Follow).count() == 0


def test_cli_follow_command(app, org, peer):
    peer.add_actor("bob")
    result = app.test_cli_runner().invoke(args=["follow", "lao_cso", f"@bob@{peer.netloc}"])
    assert result.exit_code == 0, result.output
    assert "pending" in result.output
    assert db.session.query(Follow).one().state == Follow.PENDING
    bad = app.test_cli_runner().invoke(args=["follow", "lao_cso", "@nobody@127.0.0.5:1"])
    assert bad.exit_code != 0


def test_block_ends_follows_both_ways_and_undo_lifts_it(client, org, owner, peer):
    alice = peer.add_actor("alice")
    alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    process()
    social.follow(org, f"@alice@{peer.netloc}", user=owner)
    block = alice.activity("Block", org.uri)
    alice.post_to(client, "/inbox", block)
    process()
    assert db.session.query(Follow).count() == 0
    assert db.session.query(Block).one().uri == block["id"]
    alice.post_to(client, "/inbox", alice.activity("Undo", block))
    process()
    assert db.session.query(Block).count() == 0
