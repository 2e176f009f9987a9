"""Followers-only posts over ActivityPub: served at their id to a signed GET from an accepted
follower or a mentioned account (its key fetched from a fake peer over HTTP), never cached for
others, and answered with the same 404 as an absent post to everyone else."""

from sqlalchemy import select

from federation import signatures
from hub.extensions import db
from hub.models import Block, DomainState, Follow, Mention
from hub.services import inbox, posts, remote

AS = "application/activity+json"
HUB = "http://hub.test"


def _followers_only(org, owner, text="ສະມາຊິກເທົ່ານັ້ນ: ກອງປະຊຸມວັນສຸກ"):
    return posts.create_post(org, owner, text, language="lo", visibility="followers")


def _follow(client, org, actor) -> Follow:
    follow = actor.activity("Follow", org.uri)
    assert actor.post_to(client, "/actors/lao_cso/inbox", follow).status_code == 202
    inbox.process_due(100)
    return db.session.scalar(select(Follow).where(Follow.target_id == org.id))


def _signed_get(client, actor, path: str, **extra):
    headers = signatures.sign_request("GET", HUB + path, key_id=actor.key_id, private_key=actor.private_pem,
                                      headers={"Accept": AS})
    return client.get(path, headers={**headers, **extra}, base_url=HUB)


def test_an_accepted_follower_reads_a_followers_only_post_with_a_signed_get(client, org, owner, peer):
    alice = peer.add_actor("alice")
    assert _follow(client, org, alice).state == Follow.ACCEPTED
    post = _followers_only(org, owner)
    response = _signed_get(client, alice, f"/@lao_cso/{post.id}")
    assert response.status_code == 200
    note = response.get_json(force=True)
    assert note["id"] == post.uri and list(note["contentMap"]) == ["lo"]
    assert "ກອງປະຊຸມວັນສຸກ" in note["content"]
    assert note["to"] == [org.followers_url]
    assert response.headers["Cache-Control"] == "private"
    assert "Signature" in response.headers["Vary"]
    # kept by no cache: the same URL without a signature is still 404
    assert client.get(f"/@lao_cso/{post.id}", headers={"Accept": AS}, base_url=HUB).status_code == 404


def test_everyone_else_gets_the_404_of_an_absent_post(client, org, owner, peer):
    alice, bob = peer.add_actor("alice"), peer.add_actor("bob")
    _follow(client, org, alice)
    post = _followers_only(org, owner)
    absent = client.get("/@lao_cso/99999", headers={"Accept": AS}, base_url=HUB)
    forged = signatures.sign_request("GET", f"{HUB}/@lao_cso/{post.id}", key_id=alice.key_id,
                                     private_key=bob.private_pem, headers={"Accept": AS})
    answers = [
        _signed_get(client, bob, f"/@lao_cso/{post.id}"),  # not a follower
        client.get(f"/@lao_cso/{post.id}", headers={"Accept": AS}, base_url=HUB),  # unsigned
        client.get(f"/@lao_cso/{post.id}", headers=forged, base_url=HUB),  # alice's key id, bob's key
        _signed_get(client, alice, f"/@lao_cso/{post.id}", Signature='keyId="x"'),  # malformed
    ]
    assert [r.status_code for r in answers] == [404] * 4
    assert {r.data for r in answers} == {absent.data}


def test_a_pending_or_blocked_follower_or_a_blocked_server_is_refused(client, org, owner, peer):
    alice = peer.add_actor("alice")
    follow = _follow(client, org, alice)
    post = _followers_only(org, owner)
    path = f"/@lao_cso/{post.id}"
    follow.state = Follow.PENDING
    db.session.commit()
    assert _signed_get(client, alice, path).status_code == 404
    follow.state = Follow.ACCEPTED
    block = Block(actor_id=org.id, target_id=follow.follower_id)
    db.session.add(block)
    db.session.commit()
    assert _signed_get(client, alice, path).status_code == 404
    db.session.delete(block)
    db.session.add(DomainState(domain=follow.follower.domain, blocked=True))
    db.session.commit()
    assert _signed_get(client, alice, path).status_code == 404
    db.session.execute(DomainState.__table__.delete())
    db.session.commit()
    assert _signed_get(client, alice, path).status_code == 200


def test_a_mentioned_account_reads_it_without_following(client, org, owner, peer):
    carol = peer.add_actor("carol")
    post = _followers_only(org, owner)
    db.session.add(Mention(post_id=post.id, actor_id=remote.get_actor(carol.uri).id, name=f"@{carol.acct}"))
    db.session.commit()
    assert _signed_get(client, carol, f"/@lao_cso/{post.id}").status_code == 200


def test_a_signature_on_a_public_or_absent_post_fetches_no_key(client, org, owner, peer):
    dave = peer.add_actor("dave")
    public = posts.create_post(org, owner, "ເປີດເຜີຍ", language="lo")
    assert _signed_get(client, dave, f"/@lao_cso/{public.id}").status_code == 200
    assert _signed_get(client, dave, "/@lao_cso/99999").status_code == 404
    assert not [r for r in peer.requests if r.method == "GET" and r.path == "/users/dave"]
