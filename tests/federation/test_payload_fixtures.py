"""Real payloads of Mastodon, GoToSocial, Misskey, Pleroma and Lemmy (tests/fixtures/payloads,
sources in its README): every one parses or is refused cleanly with its HTML sanitised, every
activity goes through the inbox handlers without an error, and a selection is replayed over
signed HTTP from a fake peer with the effect a user would see."""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from hub import convert
from hub.extensions import db
from hub.models import Actor, Boost, Follow, Like, Post, Report
from hub.services import inbox, posts, remote
from hub.services.inbox_common import Ignored, Rejected

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
FILES = sorted(FIXTURES.glob("*/*.json"))
UNSAFE = re.compile(r"<script|<iframe|<img|<style|<svg|javascript:|\son[a-z]+\s*=", re.IGNORECASE)
ACTIVITY_TYPES = {"Create", "Update", "Delete", "Follow", "Accept", "Reject", "Undo", "Like", "Announce",
                  "Block", "Flag", "Dislike", "Add", "Remove", "Move", "EmojiReact"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


def test_there_are_fixtures_of_every_peer():
    assert {p.parent.name for p in FILES} == {"mastodon", "gotosocial", "misskey", "pleroma", "lemmy"}


@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_every_fixture_parses_or_is_refused_cleanly(path):
    document = load(path)
    kinds = set(convert.as_list(document.get("type")))
    candidates = [document]
    if isinstance(document.get("object"), dict):
        candidates.append(document["object"])
    parsed = 0
    for candidate in candidates:
        try:
            note = convert.from_note(candidate)
        except convert.NotANote:
            pass
        else:
            parsed += 1
            assert not UNSAFE.search(note.content_html)
            assert "<" not in note.summary
        try:
            actor = convert.from_actor(candidate)
        except convert.NotAnActor:
            pass
        else:
            parsed += 1
            assert not UNSAFE.search(actor.summary_html)
            assert actor.handle and "\u202e" not in actor.name
    if kinds & (convert.NOTE_TYPES | convert.ACTOR_TYPES):
        assert parsed, f"{path.name} is a note or actor the hub could not read"


ACTIVITIES = [p for p in FILES if set(convert.as_list(load(p).get("type"))) & ACTIVITY_TYPES]


@pytest.fixture
def offline(monkeypatch):
    """No network for the fixtures' example hosts: every fetch fails as an unreachable host would."""
    def refuse(url, **kwargs):
        raise remote.FetchError(f"offline: {url}")
    monkeypatch.setattr(remote, "fetch", refuse)


@pytest.mark.parametrize("path", ACTIVITIES, ids=ids(ACTIVITIES))
def test_every_activity_goes_through_the_handlers(app, org, owner, offline, path):
    our = posts.create_post(org, owner, "ສະບາຍດີ", language="lo")
    activity = load(path)
    actor_uri = convert.id_of(activity.get("actor"))
    actor = Actor(type="Person", handle="someone", domain=convert.host_of(actor_uri), uri=actor_uri,
                  inbox=f"{actor_uri}/inbox")
    db.session.add(actor)
    db.session.commit()
    try:
        inbox.dispatch(activity, actor)
        db.session.commit()
    except (Ignored, Rejected, remote.FetchError):
        db.session.rollback()
    for post in db.session.scalars(select(Post).where(Post.local.is_(False))):
        assert not UNSAFE.search(post.content_html)
    db.session.refresh(our)
    assert our.state == "published" and our.actor_id == org.id


# --- replayed over signed HTTP -------------------------------------------------------------------

def retarget(path: str, peer) -> tuple[dict, str]:
    """The fixture with its actor's origin replaced by the fake peer's; (activity, actor path)."""
    text = (FIXTURES / path).read_text()
    activity = json.loads(text)
    actor_uri = convert.id_of(activity["actor"])
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(actor_uri))
    activity = json.loads(text.replace(origin, peer.base))
    return activity, urlsplit(actor_uri).path


def replay(client, peer, path: str, patch=None, name="someone"):
    activity, actor_path = retarget(path, peer)
    if patch:
        patch(activity)
    sender = peer.actors.get(actor_path) or peer.add_actor(name, path=actor_path)
    peer.actors[actor_path] = sender
    response = sender.post_to(client, "/inbox", activity)
    assert response.status_code == 202, (path, response.data)
    inbox.process_due(10)
    return activity


@pytest.fixture
def our_post(org, owner):
    return posts.create_post(org, owner, "ສະບາຍດີ ທຸກຄົນ", language="lo")


def replies():
    return db.session.scalars(select(Post).where(Post.local.is_(False))).all()


@pytest.mark.parametrize("path", ["mastodon/mastodon-follow-activity.json", "lemmy/follow.json",
                                  "pleroma/lemmy-assets_activities_follow.json"])
def test_follows_from_real_payloads_are_accepted(client, org, peer, path):
    replay(client, peer, path, lambda a: a.update(object=org.uri))
    [follow] = db.session.scalars(select(Follow)).all()
    assert follow.state == Follow.ACCEPTED and follow.target_id == org.id


def _reply_to(post):
    def patch(activity):
        activity["object"]["inReplyTo"] = post.uri
    return patch


@pytest.mark.parametrize("path", [
    "mastodon/mastodon-post-activity.json", "mastodon/mastodon-post-activity-hashtag.json",
    "mastodon/mastodon-post-activity-contentmap.json", "mastodon/mastodon-create-with-attachment.json",
    "gotosocial/wrap_note_in_create.json", "misskey/mk.absturztau.be-93e7nm8wqg-activity.json",
    "pleroma/create-pleroma-reply-to-misskey-thread.json", "pleroma/lemmy-assets_activities_create_note.json",
    "lemmy/create_comment.json",
])
def test_replies_from_real_payloads_appear_under_our_post(client, our_post, peer, path):
    activity = replay(client, peer, path, _reply_to(our_post))
    [reply] = replies()
    assert reply.uri == activity["object"]["id"]
    assert reply.in_reply_to_id == our_post.id
    assert reply.content_html and not UNSAFE.search(reply.content_html)


def test_mastodon_content_warning_and_hashtags(client, our_post, peer):
    replay(client, peer, "mastodon/mastodon-post-activity-hashtag.json", _reply_to(our_post))
    [reply] = replies()
    assert [t.display for t in reply.tags]
    replay(client, peer, "mastodon/mastodon-post-activity-nsfw.json",
           lambda a: (_reply_to(our_post)(a), a["object"].update(id=a["object"]["id"] + "0")))
    assert any(r.sensitive for r in replies())


def test_gotosocial_reply_with_string_addressing_is_public(client, our_post, peer):
    activity = replay(client, peer, "gotosocial/wrap_note_in_create.json", _reply_to(our_post))
    assert isinstance(activity["object"]["to"], str)  # GoToSocial sends a single recipient as a string
    [reply] = replies()
    assert reply.language == "en" and reply.visibility == "public"


def test_likes_and_undo_from_real_payloads(client, our_post, peer):
    def like(activity):
        activity["object"] = our_post.uri

    replay(client, peer, "mastodon/mastodon-like.json", like)
    assert db.session.query(Like).count() == 1
    replay(client, peer, "mastodon/mastodon-undo-like.json",
           lambda a: a["object"].update(object=our_post.uri))
    assert db.session.query(Like).count() == 0
    replay(client, peer, "lemmy/like_note.json", like, name="lemmy_alpha")
    replay(client, peer, "misskey/custom-emoji-reaction.json", like, name="misskey_user")
    assert db.session.query(Like).count() == 2


def test_boost_and_undo_from_mastodon_payloads(client, our_post, peer):
    replay(client, peer, "mastodon/mastodon-announce.json", lambda a: a.update(object=our_post.uri))
    assert db.session.query(Boost).count() == 1
    replay(client, peer, "mastodon/mastodon-undo-announce.json",
           lambda a: a["object"].update(object=our_post.uri))
    assert db.session.query(Boost).count() == 0


@pytest.mark.parametrize("path", ["gotosocial/flag.json", "mastodon/lemmy-assets_activities_flag.json",
                                  "lemmy/report_page.json"])
def test_reports_from_real_payloads(client, our_post, org, peer, path):
    replay(client, peer, path, lambda a: a.update(object=[org.uri, our_post.uri]))
    report = db.session.query(Report).one()
    assert json.loads(report.object_uris) == [org.uri, our_post.uri]


def test_mastodon_actor_update_and_deletion(client, org, peer):
    gargron = peer.actors["/users/gargron"] = peer.add_actor("gargron")

    def keep_key(activity):
        activity["object"]["publicKey"] = {"id": gargron.key_id, "owner": gargron.uri,
                                           "publicKeyPem": gargron.public_pem}
    replay(client, peer, "mastodon/mastodon-update.json", keep_key)
    actor = db.session.scalar(select(Actor).where(Actor.uri == gargron.uri))
    assert actor.name == load(FIXTURES / "mastodon/mastodon-update.json")["object"]["name"]
    replay(client, peer, "mastodon/mastodon-follow-activity.json", lambda a: a.update(object=org.uri))
    admin = db.session.scalar(select(Actor).where(Actor.uri == peer.actors["/users/admin"].uri))
    replay(client, peer, "mastodon/mastodon-delete-user.json")
    db.session.refresh(admin)
    assert admin.gone and db.session.query(Follow).count() == 0
