"""Replies, mentions, likes, boosts, edits, deletions and reports arriving from a fake peer, each
processed as the worker does, with the origin rules applied."""

import json

import pytest
from sqlalchemy import select

from hub.extensions import db
from hub.models import Actor, Boost, Follow, InboxItem, Like, Notification, Post, Report
from hub.services import inbox, posts, social

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
HTML_EN = {"Accept": "text/html", "Accept-Language": "en"}


@pytest.fixture
def our_post(org, owner):
    return posts.create_post(org, owner, "ສະບາຍດີ ທຸກຄົນ", language="lo")


@pytest.fixture
def alice(peer):
    return peer.add_actor("alice")


def deliver(client, actor, activity, path="/inbox"):
    response = actor.post_to(client, path, activity)
    assert response.status_code == 202, response.data
    inbox.process_due(100)
    return db.session.scalar(select(InboxItem).where(InboxItem.activity_uri == activity["id"]))


def remote_posts():
    return db.session.scalars(select(Post).where(Post.local.is_(False))).all()


def kinds():
    return sorted(n.kind for n in db.session.scalars(select(Notification)))


def test_reply_is_stored_sanitised_under_our_post_and_notified(client, our_post, alice):
    note = alice.note('<p>ຂອບໃຈ <script>alert(1)</script><a href="javascript:x" onclick="y">link</a>'
                      '<img src=x onerror=z></p>', in_reply_to=our_post.uri, contentMap=None)
    item = deliver(client, alice, alice.activity("Create", note))
    assert item.state == "done"
    [reply] = remote_posts()
    assert reply.in_reply_to_id == our_post.id and reply.uri == note["id"]
    assert reply.actor.uri == alice.uri
    assert "ຂອບໃຈ" in reply.content_html
    for bad in ("script", "javascript", "onclick", "onerror", "<img"):
        assert bad not in reply.content_html
    assert reply.visibility == "public"
    assert social.replies(our_post) == [reply]
    assert kinds() == ["reply"]


def test_mention_of_an_org_is_stored_and_notified(client, org, alice):
    mention = {"type": "Mention", "href": org.uri, "name": "@lao_cso@hub.test"}
    note = alice.note("hello @lao_cso", tag=[mention], cc=[org.uri])
    deliver(client, alice, alice.activity("Create", note))
    assert len(remote_posts()) == 1
    assert kinds() == ["mention"]


def test_unrelated_note_is_not_stored(client, org, alice):
    item = deliver(client, alice, alice.activity("Create", alice.note("just chatting")))
    assert remote_posts() == []
    assert item.state == "done" and item.error.startswith("ignored")


def test_create_by_reference_fetches_the_note_from_its_origin(client, our_post, alice):
    note = alice.note("ok", in_reply_to=our_post.uri)
    deliver(client, alice, alice.activity("Create", note["id"]))
    assert [p.uri for p in remote_posts()] == [note["id"]]


def test_create_attributed_to_someone_else_is_refused(client, our_post, alice, peer):
    bob = peer.add_actor("bob")
    note = alice.note("I am bob", in_reply_to=our_post.uri, attributedTo=bob.uri)
    item = deliver(client, alice, alice.activity("Create", note))
    assert item.state == "failed" and remote_posts() == []
    assert kinds() == []


def test_create_of_an_object_on_another_host_is_refused(client, our_post, alice, peers):
    other = peers("127.0.0.6").add_actor("eve")
    note = other.note("hosted elsewhere", in_reply_to=our_post.uri)
    note["attributedTo"] = alice.uri
    item = deliver(client, alice, alice.activity("Create", note))
    assert item.state == "failed" and remote_posts() == []


def test_update_of_a_note_by_its_author_and_not_by_others(client, our_post, alice, peer):
    note = alice.note("first", in_reply_to=our_post.uri)
    deliver(client, alice, alice.activity("Create", note))
    mallory = peer.add_actor("mallory")
    forged = dict(note, content="forged", attributedTo=mallory.uri)
    item = deliver(client, mallory, mallory.activity("Update", forged))
    assert item.state == "failed"
    assert "first" in remote_posts()[0].content_html
    edited = dict(note, content="<p>second</p>", updated="2026-11-26T11:00:00Z")
    deliver(client, alice, alice.activity("Update", edited))
    [reply] = remote_posts()
    assert reply.content_html == "<p>second</p>" and reply.edited_at is not None


def test_delete_of_a_note_only_by_its_author(client, our_post, alice, peer):
    note = alice.note("to delete", in_reply_to=our_post.uri)
    deliver(client, alice, alice.activity("Create", note))
    mallory = peer.add_actor("mallory")
    assert deliver(client, mallory, mallory.activity("Delete", note["id"])).state == "failed"
    assert remote_posts()[0].state == "published"
    deliver(client, alice, alice.activity("Delete", {"id": note["id"], "type": "Tombstone"}))
    [reply] = remote_posts()
    assert reply.state == "deleted" and reply.content_html == ""
    assert social.replies(our_post) == []


def test_delete_or_update_of_our_own_post_is_refused(client, our_post, alice):
    assert deliver(client, alice, alice.activity("Delete", our_post.uri)).state == "failed"
    forged = {"id": our_post.uri, "type": "Note", "attributedTo": alice.uri, "content": "pwned"}
    assert deliver(client, alice, alice.activity("Update", forged)).state == "failed"
    db.session.refresh(our_post)
    assert our_post.state == "published" and "pwned" not in our_post.content_html


def test_actor_deletes_itself(client, our_post, org, alice):
    deliver(client, alice, alice.activity("Follow", org.uri))
    deliver(client, alice, alice.activity("Like", our_post.uri))
    deliver(client, alice, alice.activity("Create", alice.note("hi", in_reply_to=our_post.uri)))
    deliver(client, alice, alice.activity("Delete", alice.uri, to=[PUBLIC]))
    actor = db.session.scalar(select(Actor).where(Actor.uri == alice.uri))
    assert actor.gone
    assert db.session.query(Like).count() == 0
    assert remote_posts()[0].state == "deleted"
    assert db.session.query(Follow).count() == 0
    assert kinds() == []


def test_delete_of_another_actor_is_refused(client, alice, peer):
    bob = peer.add_actor("bob")
    deliver(client, bob, bob.activity("Follow", "http://hub.test/actors/lao_cso"))
    item = deliver(client, alice, alice.activity("Delete", bob.uri))
    assert item.state == "done"  # a Delete of something alice does not own changes nothing
    assert not db.session.scalar(select(Actor).where(Actor.uri == bob.uri)).gone


def test_actor_update_only_by_itself(client, org, alice, peer):
    deliver(client, alice, alice.activity("Follow", org.uri))
    changed = dict(alice.document, name="Alice ‮Renamed", summary="<p>new<script>x</script></p>")
    deliver(client, alice, alice.activity("Update", changed))
    stored = db.session.scalar(select(Actor).where(Actor.uri == alice.uri))
    assert stored.name == "Alice Renamed"
    assert stored.summary_html == "<p>new</p>"
    mallory = peer.add_actor("mallory")
    forged = dict(alice.document, name="Hacked")
    assert deliver(client, mallory, mallory.activity("Update", forged)).state == "failed"
    assert db.session.scalar(select(Actor).where(Actor.uri == alice.uri)).name == "Alice Renamed"


def test_like_and_undo_like(client, our_post, alice, peer):
    like = alice.activity("Like", our_post.uri)
    deliver(client, alice, like)
    assert db.session.query(Like).one().uri == like["id"]
    assert kinds() == ["like"]
    mallory = peer.add_actor("mallory")
    assert deliver(client, mallory, mallory.activity("Undo", like)).state == "failed"
    assert db.session.query(Like).count() == 1
    deliver(client, alice, alice.activity("Undo", like))
    assert db.session.query(Like).count() == 0


def test_like_of_something_not_ours_is_ignored(client, org, alice):
    deliver(client, alice, alice.activity("Like", "https://elsewhere.example/notes/1"))
    assert db.session.query(Like).count() == 0


def test_announce_of_our_post_and_undo(client, our_post, alice):
    announce = alice.activity("Announce", our_post.uri, to=[PUBLIC], cc=[our_post.actor.uri])
    deliver(client, alice, announce)
    assert db.session.query(Boost).one().uri == announce["id"]
    assert kinds() == ["boost"]
    deliver(client, alice, alice.activity("Undo", {"id": announce["id"], "type": "Announce",
                                                   "actor": alice.uri, "object": our_post.uri}))
    assert db.session.query(Boost).count() == 0


def test_announce_of_a_followers_only_post_is_ignored(client, org, owner, alice):
    private = posts.create_post(org, owner, "private", language="en", visibility="followers")
    deliver(client, alice, alice.activity("Announce", private.uri))
    assert db.session.query(Boost).count() == 0


def test_flag_becomes_a_report(client, our_post, org, peer):
    instance = peer.add_actor("instance", kind="Application")
    flag = instance.activity("Flag", [org.uri, our_post.uri, "https://elsewhere.example/x"],
                             content="<p>spam <b>here</b></p>")
    deliver(client, instance, flag)
    report = db.session.query(Report).one()
    assert report.content == "spam here"
    assert json.loads(report.object_uris) == [org.uri, our_post.uri]
    assert db.session.get(Actor, report.reporter_id).uri == instance.uri


def test_unknown_activity_types_are_accepted_and_ignored(client, org, alice):
    item = deliver(client, alice, alice.activity("Move", alice.uri, target="https://x.example/u"))
    assert item.state == "done" and item.error.startswith("ignored")


def test_processing_error_in_a_handler_does_not_stop_the_batch(client, our_post, alice):
    bad = alice.activity("Like", our_post.uri)
    good = alice.activity("Announce", our_post.uri)
    alice.post_to(client, "/inbox", bad)
    alice.post_to(client, "/inbox", good)
    db.session.query(InboxItem).filter_by(activity_uri=bad["id"]).update({"payload": "{not json"})
    db.session.commit()
    assert inbox.process_due(10) == 2
    states = {i.activity_uri: i.state for i in db.session.scalars(select(InboxItem))}
    assert states[good["id"]] == "done" and states[bad["id"]] == "queued"
    assert db.session.query(Boost).count() == 1


def test_reply_appears_under_the_post_on_its_public_page(client, our_post, alice):
    note = alice.note('<p>ຂອບໃຈຫຼາຍ <script>steal()</script><a href="https://ok.example/">link</a></p>',
                      in_reply_to=our_post.uri)
    deliver(client, alice, alice.activity("Create", note))
    deliver(client, alice, alice.activity("Like", our_post.uri))
    page = client.get(f"/@lao_cso/{our_post.id}", headers=HTML_EN).get_data(as_text=True)
    assert "ຂອບໃຈຫຼາຍ" in page and f"@alice@{alice.peer.netloc}" in page
    assert "steal()" not in page and 'href="https://ok.example/"' in page
    assert "Likes: 1" in page
    hidden = alice.note("private words", in_reply_to=our_post.uri, to=[our_post.actor.uri], cc=[])
    deliver(client, alice, alice.activity("Create", hidden))
    page = client.get(f"/@lao_cso/{our_post.id}", headers=HTML_EN).get_data(as_text=True)
    assert "private words" not in page
