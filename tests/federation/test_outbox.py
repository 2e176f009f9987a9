"""Publishing, editing and deleting federate Create, Update and Delete to the right inboxes, and
the worker delivers them over real HTTP to fake peers, signed by the organisation."""

import json

from sqlalchemy import select

from federation import signatures
from hub import worker
from hub.extensions import db
from hub.models import Actor, Delivery, Follow, OutgoingActivity
from hub.services import orgs, posts

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def remote_actor(handle, base, shared=True):
    actor = Actor(type="Person", handle=handle, domain=base.split("//")[1], uri=f"{base}/users/{handle}",
                  inbox=f"{base}/users/{handle}/inbox", shared_inbox=f"{base}/inbox" if shared else None,
                  followers_url=f"{base}/users/{handle}/followers")
    db.session.add(actor)
    db.session.flush()
    return actor


def follow(actor, org, state=Follow.ACCEPTED):
    db.session.add(Follow(follower_id=actor.id, target_id=org.id, state=state,
                          uri=f"{actor.uri}/follows/{org.id}"))
    db.session.commit()


def outgoing(kind):
    return [json.loads(a.payload) for a in db.session.scalars(select(OutgoingActivity).filter_by(type=kind))]


def inboxes(kind):
    query = (select(Delivery.inbox).join(OutgoingActivity, OutgoingActivity.id == Delivery.activity_id)
             .where(OutgoingActivity.type == kind))
    return sorted(db.session.scalars(query))


def test_publish_queues_create_for_accepted_followers_shared_inboxes_once(org, owner):
    for name in ("a", "b"):
        follow(remote_actor(name, "https://masto.example"), org)
    follow(remote_actor("solo", "https://solo.example", shared=False), org)
    follow(remote_actor("waiting", "https://pending.example"), org, Follow.PENDING)
    post = posts.create_post(org, owner, "ສະບາຍດີ #ລາວ", language="lo")
    assert inboxes("Create") == ["https://masto.example/inbox", "https://solo.example/users/solo/inbox"]
    [create] = outgoing("Create")
    assert create["id"] == f"{post.uri}/activity"
    assert create["actor"] == org.uri
    note = create["object"]
    assert note["contentMap"] == {"lo": note["content"]}
    assert "ສະບາຍດີ" in note["content"]
    assert note["to"] == [PUBLIC] and note["cc"] == [org.followers_url]
    assert create["to"] == note["to"] and create["cc"] == note["cc"]
    assert note["tag"][0]["type"] == "Hashtag" and note["tag"][0]["name"] == "#ລາວ"


def test_followers_only_post_never_reaches_pending_followers(org, owner):
    follow(remote_actor("ok", "https://ok.example"), org)
    follow(remote_actor("waiting", "https://pending.example"), org, Follow.PENDING)
    posts.create_post(org, owner, "for followers", language="en", visibility="followers")
    assert inboxes("Create") == ["https://ok.example/inbox"]
    [create] = outgoing("Create")
    assert create["object"]["to"] == [org.followers_url]
    assert PUBLIC not in create["object"]["to"] + create["object"]["cc"]


def test_draft_and_pending_posts_send_nothing(org, owner, make_user):
    follow(remote_actor("ok", "https://ok.example"), org)
    posts.create_post(org, owner, "draft", action="draft")
    contributor = make_user("c@example.org", org=org, role="contributor")
    posts.create_post(org, contributor, "needs review")
    assert outgoing("Create") == []


def test_edit_sends_update_with_updated_and_delete_sends_tombstone(org, owner):
    follow(remote_actor("ok", "https://ok.example"), org)
    post = posts.create_post(org, owner, "first", language="en")
    posts.edit(post, owner, "second")
    [update] = outgoing("Update")
    assert update["object"]["id"] == post.uri
    assert "second" in update["object"]["content"]
    assert update["object"]["updated"].endswith("Z")
    assert inboxes("Update") == ["https://ok.example/inbox"]
    posts.delete(post, owner)
    [delete] = outgoing("Delete")
    assert delete["object"] == {"id": post.uri, "type": "Tombstone", "atomUri": post.uri}
    assert delete["actor"] == org.uri
    assert inboxes("Delete") == ["https://ok.example/inbox"]


def test_delete_reaches_a_follower_who_left_after_the_create(org, owner):
    leaver = remote_actor("gone", "https://left.example")
    follow(leaver, org)
    post = posts.create_post(org, owner, "first", language="en")
    db.session.query(Follow).delete()
    db.session.commit()
    posts.delete(post, owner)
    assert inboxes("Delete") == ["https://left.example/inbox"]


def test_mentioned_remote_account_is_addressed_and_tagged(org, owner, peer):
    alice = peer.add_actor("alice", shared_inbox=False)
    post = posts.create_post(org, owner, f"ສະບາຍດີ @alice@{peer.netloc}", language="lo")
    [create] = outgoing("Create")
    note = create["object"]
    assert {"type": "Mention", "href": alice.uri, "name": f"@alice@{peer.netloc}"} in note["tag"]
    assert alice.uri in note["cc"]
    assert inboxes("Create") == [alice.inbox]
    assert f'href="{peer.base}/@alice"' in post.content_html


def test_worker_delivers_signed_create_update_delete_to_a_real_peer(org, owner, peer):
    follower = peer.add_actor("bob")
    stored = remote_actor("bob", peer.base)
    follow(stored, org)
    post = posts.create_post(org, owner, "ສະບາຍດີ", language="lo")
    posts.edit(post, owner, "ສະບາຍດີ 2")
    posts.delete(post, owner)
    stats = worker.run_once()
    assert stats["delivered"] == 3
    assert [a["type"] for a in peer.received()] == ["Create", "Update", "Delete"]
    for request in peer.inbox:
        assert request.path == "/inbox"
        assert request.headers["content-type"].startswith("application/activity+json")
        params = signatures.verify_request("POST", request.path, "", request.headers, request.body,
                                           org.public_key_pem)
        assert params["keyId"] == org.key_id
    assert follower.uri == stored.uri


def test_profile_change_sends_update_of_the_organization_to_followers(org, owner):
    follow(remote_actor("ok", "https://ok.example"), org)
    orgs.update_profile(org, owner, name="ອົງການໃໝ່", bio_lo="ສະບາຍດີ")
    [update] = outgoing("Update")
    assert update["object"]["type"] == "Organization" and update["object"]["name"] == "ອົງການໃໝ່"
    assert update["object"]["publicKey"]["publicKeyPem"] == org.public_key_pem
    assert update["actor"] == org.uri
    assert inboxes("Update") == ["https://ok.example/inbox"]
