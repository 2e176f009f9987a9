"""What attackers try against the inboxes and fetches (FEDERATION.md): every attempt is refused
with the right status, nothing is stored, and forbidden addresses are never contacted."""

import json
import time

import pytest
from fakepeer import HUB, PUBLIC
from sqlalchemy import select

from hub.extensions import db
from hub.models import Actor, DomainState, Follow, InboxItem, Post
from hub.services import NotFound, inbox, posts, social


@pytest.fixture
def alice(peer):
    return peer.add_actor("alice")


def nothing_stored():
    return db.session.query(InboxItem).count() == 0 and db.session.query(Follow).count() == 0


def post_raw(client, body: bytes, headers: dict, path="/inbox"):
    return client.post(path, data=body, headers=headers, base_url=HUB)


def test_unsigned_request_is_401(client, org, alice):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    response = post_raw(client, body, {"Content-Type": "application/activity+json"})
    assert response.status_code == 401
    assert nothing_stored()


def test_signed_by_another_key_is_401(client, org, alice, peer):
    mallory = peer.add_actor("mallory")
    mallory.private_pem, mallory.key_id = peer.add_actor("other").private_pem, alice.key_id
    response = mallory.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    assert response.status_code == 401
    assert nothing_stored()


def test_activity_whose_actor_is_not_the_signer_is_401(client, org, alice, peers):
    bob = peers("127.0.0.6").add_actor("bob")
    response = alice.post_to(client, "/inbox", bob.activity("Follow", org.uri))
    assert response.status_code == 401 and b"signer" in response.data
    assert nothing_stored()


def test_actor_spelled_differently_from_the_signer_is_401(client, org, alice):
    activity = alice.activity("Follow", org.uri)
    activity["actor"] = alice.uri.replace("127.0.0.5", "127.0.0.5.")
    assert alice.post_to(client, "/inbox", activity).status_code == 401
    assert nothing_stored()


@pytest.mark.parametrize("offset", [-7300, 7300])
def test_stale_or_future_signature_is_401(client, org, alice, offset):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = alice.sign_headers(HUB + "/inbox", body, now=time.time() + offset)
    assert post_raw(client, body, headers).status_code == 401
    assert nothing_stored()


def test_body_changed_after_signing_is_401(client, org, alice):
    signed = json.dumps(alice.activity("Like", "http://hub.test/@lao_cso/1")).encode()
    headers = alice.sign_headers(HUB + "/inbox", signed)
    other = json.dumps(alice.activity("Follow", org.uri)).encode()
    assert post_raw(client, other, headers).status_code == 401
    assert nothing_stored()


def test_digest_not_signed_or_missing_is_401(client, org, alice):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = alice.sign_headers(HUB + "/inbox", body)
    del headers["Digest"]
    assert post_raw(client, body, headers).status_code == 401
    headers = alice.sign_headers(HUB + "/inbox", body)
    headers["Signature"] = headers["Signature"].replace(' digest', '')
    assert post_raw(client, body, headers).status_code == 401
    assert nothing_stored()


def test_signature_for_another_path_is_401(client, org, alice):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = alice.sign_headers(HUB + "/actors/someone/inbox", body)
    assert post_raw(client, body, headers).status_code == 401
    assert nothing_stored()


@pytest.mark.parametrize("change", ['algorithm="rsa-sha512"', 'algorithm="hmac-sha256"'])
def test_unsupported_algorithm_is_401(client, org, alice, change):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = alice.sign_headers(HUB + "/inbox", body)
    headers["Signature"] = headers["Signature"].replace('algorithm="rsa-sha256"', change)
    assert post_raw(client, body, headers).status_code == 401
    assert nothing_stored()


def test_duplicate_signature_parameters_are_401(client, org, alice):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = alice.sign_headers(HUB + "/inbox", body)
    headers["Signature"] = f'keyId="{alice.key_id}",' + headers["Signature"]
    assert post_raw(client, body, headers).status_code == 401


def test_rfc9421_signature_is_401_never_500(client, org, alice):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = {"Content-Type": "application/activity+json",
               "Signature-Input": 'sig1=("@method" "@target-uri");keyid="x";alg="rsa-v1_5-sha256"',
               "Signature": "sig1=:AAAA:"}
    assert post_raw(client, body, headers).status_code == 401


def test_hs2019_and_gotosocial_key_stub_are_accepted(client, org, peer):
    gts = peer.add_actor("gts", key_style="gts")
    body = json.dumps(gts.activity("Follow", org.uri)).encode()
    headers = gts.sign_headers(HUB + "/inbox", body)
    headers["Signature"] = headers["Signature"].replace('algorithm="rsa-sha256"', 'algorithm="hs2019"')
    assert post_raw(client, body, headers).status_code == 202
    stored = db.session.scalar(select(Actor).where(Actor.domain.is_not(None)))
    assert stored.uri == gts.uri and stored.inbox == gts.inbox  # the stub was followed to its owner
    assert stored.key_id == gts.key_id


def test_key_on_one_host_owned_by_an_actor_on_another_is_401(client, org, peer, peers):
    victim = peers("127.0.0.6").add_actor("victim")
    attacker = peer.add_actor("attacker")
    peer.serve("/keys/1", {"id": f"{peer.base}/keys/1", "owner": victim.uri,
                           "publicKeyPem": attacker.public_pem})
    attacker.key_id = f"{peer.base}/keys/1"
    response = attacker.post_to(client, "/inbox", victim.activity("Follow", org.uri))
    assert response.status_code == 401
    assert nothing_stored()


def test_stub_claiming_another_actor_is_401(client, org, peer):
    alice = peer.add_actor("alice")
    mallory = peer.add_actor("mallory")
    peer.serve("/users/mallory/evil-key", {"id": alice.uri, "type": "Person", "publicKey": {
        "id": f"{mallory.uri}/evil-key", "owner": alice.uri, "publicKeyPem": mallory.public_pem}})
    mallory.key_id = f"{mallory.uri}/evil-key"
    assert mallory.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 401
    assert nothing_stored()


def test_document_whose_id_is_not_its_url_is_refused(client, org, peer):
    alice = peer.add_actor("alice")
    eve = peer.add_actor("eve")
    peer.serve("/users/eve", dict(alice.document))  # eve's URL serves alice's document
    assert eve.post_to(client, "/inbox", eve.activity("Follow", org.uri)).status_code == 401
    assert nothing_stored()


@pytest.mark.parametrize("content_type", ["text/html", "image/png", "application/octet-stream"])
def test_actor_served_with_a_non_activity_content_type_is_refused(client, org, peer, content_type):
    alice = peer.add_actor("alice")
    peer.serve("/users/alice", alice.document, content_type=content_type)
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 401
    assert nothing_stored()


def test_oversized_body_is_413(client, org, alice):
    activity = alice.activity("Create", {"type": "Note", "content": "x" * 1_100_000})
    assert alice.post_to(client, "/inbox", activity).status_code == 413
    assert nothing_stored()
    assert [r for r in alice.peer.requests if r.method == "GET"] == []  # refused before any key fetch


@pytest.mark.parametrize("body", [b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 100_000,
                                  b'{"id": 1' + b"0" * 5000 + b"}", b"not json", b"[1, 2]", b"{}",
                                  b'{"id": "http://x.example/1", "type": "Follow"}', b"\xff\xfe"])
def test_malformed_deep_or_incomplete_json_is_400(client, org, alice, body):
    headers = alice.sign_headers(HUB + "/inbox", body)
    assert post_raw(client, body, headers).status_code == 400
    assert nothing_stored()


def test_non_json_content_type_is_refused(client, org, alice):
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = alice.sign_headers(HUB + "/inbox", body)
    headers["Content-Type"] = "text/plain"
    assert post_raw(client, body, headers).status_code in (400, 401, 415)
    assert nothing_stored()


def test_blocked_domain_is_refused(client, org, alice):
    db.session.add(DomainState(domain=alice.peer.netloc, blocked=True))
    db.session.commit()
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 403
    assert nothing_stored()


def test_thousands_of_tags_are_capped(client, org, owner, alice):
    our = posts.create_post(org, owner, "hi", language="en")
    base = alice.peer.base
    tags = [{"type": "Hashtag", "name": f"#t{n}", "href": f"{base}/tags/t{n}"} for n in range(5000)]
    note = alice.note("many tags", in_reply_to=our.uri, tag=tags)
    assert alice.post_to(client, "/inbox", alice.activity("Create", note)).status_code == 202
    inbox.process_due(10)
    reply = db.session.scalar(select(Post).where(Post.local.is_(False)))
    assert 0 < len(reply.tags) <= 50


# --- SSRF: with no private network allowed, loopback peers are never contacted -------------------

@pytest.fixture
def strict(app):
    app.config["HUB_ALLOW_PRIVATE_NETWORKS"] = []
    return app


def test_signature_key_on_loopback_is_never_fetched_by_default(client, strict, org, alice):
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 401
    assert alice.peer.requests == []
    assert nothing_stored()


@pytest.mark.parametrize("template", [
    "http://{host}:{port}/users/alice", "http://2130706433:{port}/users/alice", "http://127.1:{port}/users/alice",
    "http://0x7f000001:{port}/users/alice", "http://[::ffff:127.0.0.5]:{port}/users/alice",
    "http://0.0.0.0:{port}/users/alice", "http://[::]:{port}/users/alice", "http://localhost:{port}/users/alice",
])
def test_follow_by_url_of_private_or_odd_addresses_is_refused(client, strict, org, owner, alice, template):
    url = template.format(host=alice.peer.host, port=alice.peer.port)
    with pytest.raises(NotFound):
        social.follow(org, url, user=owner)
    assert alice.peer.requests == []
    assert db.session.query(Follow).count() == 0


def test_boost_of_a_private_address_is_refused(client, strict, org, owner, alice):
    note = alice.note("internal")
    with pytest.raises(NotFound):
        social.boost(org, note["id"], user=owner)
    assert alice.peer.requests == []


def test_redirect_to_a_forbidden_address_is_not_followed(client, org, owner, peer):
    peer.serve("/users/evil", b"", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(NotFound):
        social.follow(org, f"{peer.base}/users/evil", user=owner)
    assert db.session.query(Follow).count() == 0


def test_slow_drip_fetch_hits_the_total_deadline(client, app, org, peer):
    app.config["HUB_FETCH_DEADLINE"] = 1.0
    alice = peer.add_actor("alice")
    peer.drip["/users/alice"] = 0.05
    started = time.monotonic()
    assert alice.post_to(client, "/inbox", alice.activity("Follow", org.uri)).status_code == 401
    assert time.monotonic() - started < 5
    assert nothing_stored()


def test_note_to_public_only_from_its_author_even_when_embedded(client, org, owner, alice, peers):
    our = posts.create_post(org, owner, "hi", language="en")
    bob = peers("127.0.0.6").add_actor("bob")
    forged = bob.note("words in bob's mouth", in_reply_to=our.uri, serve=False, to=[PUBLIC])
    alice.post_to(client, "/inbox", alice.activity("Create", forged))
    inbox.process_due(10)
    assert db.session.query(Post).filter_by(local=False).count() == 0


def test_a_flood_from_one_server_is_told_to_slow_down(client, app, org, peer, peers):
    app.config["HUB_INBOX_MAX_QUEUED_PER_DOMAIN"] = 3
    alice, bob = peer.add_actor("alice"), peer.add_actor("bob")
    answers = [actor.post_to(client, "/inbox", actor.activity("Follow", org.uri)) for actor in (alice, bob)]
    likes = [alice.activity("Like", f"{HUB}/@lao_cso/{n}") for n in range(3)]
    answers += [alice.post_to(client, "/inbox", like) for like in likes]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    assert answers[-1].headers["Retry-After"] == "120"
    carol = peers("127.0.0.6").add_actor("carol")  # other servers are not affected
    assert carol.post_to(client, "/inbox", carol.activity("Follow", org.uri)).status_code == 202
    inbox.process_due(100)
    assert alice.post_to(client, "/inbox", alice.activity("Like", f"{HUB}/@lao_cso/9")).status_code == 202


def test_an_activity_id_on_another_server_cannot_squat_a_future_id(client, org, alice, peers):
    victim = peers("127.0.0.6").add_actor("victim")
    squat = alice.activity("Follow", org.uri)
    squat["id"] = f"{victim.peer.base}/activities/next"
    assert alice.post_to(client, "/inbox", squat).status_code == 400
    real = victim.activity("Follow", org.uri)
    real["id"] = squat["id"]
    assert victim.post_to(client, "/inbox", real).status_code == 202
    assert db.session.query(InboxItem).one().actor_uri == victim.uri
