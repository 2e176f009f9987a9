"""hub.convert without an app or a database: local models to ActivityStreams documents, and
remote documents to plain sanitised values."""

from datetime import datetime

import pytest

from hub import convert
from hub.models import Actor, Boost, Follow, Like, Media, Mention, Post, PostTag, Tag

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
BASE = "https://hub.example"


def org(handle="lao_cso", **fields):
    uri = f"{BASE}/actors/{handle}"
    values = dict(type="Organization", handle=handle, domain=None, uri=uri, url=f"{BASE}/@{handle}",
                  inbox=f"{uri}/inbox", shared_inbox=f"{BASE}/inbox", outbox=f"{uri}/outbox",
                  followers_url=f"{uri}/followers", following_url=f"{uri}/following", name="ອົງການ",
                  key_id=f"{uri}#main-key", public_key_pem="PEM", bio_lo="", bio_en="", website=None,
                  manually_approves_followers=False, discoverable=False, default_language="lo",
                  created_at=datetime(2026, 1, 2, 3, 4, 5))
    values.update(fields)
    return Actor(**values)


def remote(handle="alice", host="masto.example"):
    uri = f"https://{host}/users/{handle}"
    return Actor(type="Person", handle=handle, domain=host, uri=uri, inbox=f"{uri}/inbox",
                 followers_url=f"{uri}/followers")


def post(actor=None, visibility="public", **fields):
    actor = actor or org()
    values = dict(id=7, uri=f"{BASE}/@{actor.handle}/7", url=f"{BASE}/@{actor.handle}/7", local=True,
                  content_html="<p>ສະບາຍດີ</p>", language="lo", summary="", sensitive=False,
                  visibility=visibility, state="published", published_at=datetime(2026, 11, 26, 10, 0, 0),
                  created_at=datetime(2026, 11, 26, 9, 0, 0))
    values.update(fields)
    item = Post(**values)
    item.actor = actor
    return item


def test_actor_document_has_mastodons_fields_and_context():
    document = convert.actor_to_ap(org(website="https://cso.example.la", bio_lo="ສະບາຍດີ\n\nລາວ <b>",
                                       manually_approves_followers=True), icon_url="https://m.example/a.png")
    assert document["@context"][:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    context = document["@context"][2]
    for term in ("manuallyApprovesFollowers", "discoverable", "indexable", "featured", "PropertyValue",
                 "webfinger", "Hashtag", "sensitive", "focalPoint", "blurhash"):
        assert term in context
    assert document["type"] == "Organization"
    assert document["summary"] == "<p>ສະບາຍດີ</p><p>ລາວ &lt;b&gt;</p>"
    assert document["summaryMap"] == {"lo": document["summary"]}
    assert document["webfinger"] == "acct:lao_cso@hub.example"
    assert document["icon"] == {"type": "Image", "url": "https://m.example/a.png", "mediaType": "image/png"}
    assert document["publicKey"]["id"] == f"{BASE}/actors/lao_cso#main-key"
    assert document["manuallyApprovesFollowers"] is True
    assert document["published"] == "2026-01-02T03:04:05Z"
    assert document["attachment"][0]["name"] == "Website"


def test_website_field_is_escaped():
    document = convert.actor_to_ap(org(website='https://x.example/"><script>'))
    assert "<script>" not in document["attachment"][0]["value"]


@pytest.mark.parametrize("visibility,to,cc", [
    ("public", [PUBLIC], ["{followers}", "{mentioned}"]),
    ("unlisted", ["{followers}"], [PUBLIC, "{mentioned}"]),
    ("followers", ["{followers}"], ["{mentioned}"]),
    ("direct", ["{mentioned}"], []),
])
def test_addressing_by_visibility_includes_mentions(visibility, to, cc):
    item = post(visibility=visibility)
    alice = remote()
    item.mentions.append(Mention(actor=alice, name="@alice@masto.example"))
    names = {"{followers}": item.actor.followers_url, "{mentioned}": alice.uri}
    assert convert.audience(item) == ([names.get(t, t) for t in to], [names.get(c, c) for c in cc])


def test_note_has_contentmap_tags_and_updated_on_edit():
    item = post(summary="CW", sensitive=True, edited_at=datetime(2026, 11, 26, 11, 0, 0))
    item.tags.append(PostTag(tag=Tag(name="ເດັ່ນ"), display="ເດັ່ນ"))
    item.mentions.append(Mention(actor=remote(), name="@alice@masto.example"))
    item.attachments.append(Media(file_name="a.jpg", media_type="image/jpeg", description="alt", width=4,
                                  height=3, blurhash="LKO2"))
    note = convert.note_to_ap(item, media_url=lambda name: f"https://media.example/{name}")
    assert note["contentMap"] == {"lo": "<p>ສະບາຍດີ</p>"} and note["content"] == "<p>ສະບາຍດີ</p>"
    assert note["summary"] == "CW" and note["sensitive"] is True
    assert note["updated"] == "2026-11-26T11:00:00Z"
    assert {"type": "Hashtag", "href": f"{BASE}/tags/%E0%BB%80%E0%BA%94%E0%BA%B1%E0%BB%88%E0%BA%99",
            "name": "#ເດັ່ນ"} in note["tag"]
    assert {"type": "Mention", "href": "https://masto.example/users/alice",
            "name": "@alice@masto.example"} in note["tag"]
    assert note["attachment"] == [{"type": "Image", "mediaType": "image/jpeg", "url": "https://media.example/a.jpg",
                                   "name": "alt", "blurhash": "LKO2", "width": 4, "height": 3}]


def test_create_update_delete_shapes():
    item = post(edited_at=datetime(2026, 11, 26, 11, 0, 0, 123456))
    create = convert.create(item)
    assert create["id"] == f"{item.uri}/activity" and create["object"]["id"] == item.uri
    assert create["to"] == create["object"]["to"] and "@context" not in create["object"]
    update = convert.update(item)
    assert update["type"] == "Update" and update["id"].startswith(f"{item.uri}#updates/")
    assert update["object"]["updated"].endswith("Z")
    delete = convert.delete(item)
    assert delete["object"] == {"id": item.uri, "type": "Tombstone", "atomUri": item.uri}


def test_announce_and_its_undo_in_mastodons_shape():
    ours = org()
    boost = Boost(uri=f"{ours.uri}/boosts/3", created_at=datetime(2026, 11, 26, 12, 0, 0))
    boost.actor = ours
    announce = convert.announce(boost, post_uri="https://masto.example/users/alice/statuses/1",
                                author_uri="https://masto.example/users/alice")
    assert announce["to"] == [PUBLIC]
    assert announce["cc"] == ["https://masto.example/users/alice", ours.followers_url]
    assert announce["object"] == "https://masto.example/users/alice/statuses/1"
    undo = convert.undo(announce)
    assert undo["object"] == {key: announce[key] for key in ("id", "type", "actor", "object")}
    assert undo["actor"] == ours.uri and undo["id"] != announce["id"]


def test_accept_embeds_the_follow_with_its_id_and_is_by_the_target():
    follow = Follow(id=5, uri="https://masto.example/follows/1", created_at=datetime(2026, 1, 1))
    follow.follower, follow.target = remote(), org()
    accept = convert.accept(follow)
    assert accept["actor"] == follow.target.uri
    assert accept["object"] == {"id": "https://masto.example/follows/1", "type": "Follow",
                                "actor": follow.follower.uri, "object": follow.target.uri}
    assert convert.reject(follow)["type"] == "Reject"


def test_like_and_follow_out():
    ours, theirs = org(), post(actor=remote(), uri="https://masto.example/users/alice/statuses/1")
    like = Like(uri=f"{ours.uri}/likes/1")
    like.actor, like.post = ours, theirs
    assert convert.like(like)["object"] == theirs.uri
    follow = Follow(uri=f"{ours.uri}/follows/1")
    follow.follower, follow.target = ours, remote()
    assert convert.follow(follow) == {"@context": "https://www.w3.org/ns/activitystreams", "id": follow.uri,
                                      "type": "Follow", "actor": ours.uri, "object": follow.target.uri,
                                      "to": [follow.target.uri]}


# --- remote documents ----------------------------------------------------------------------------

def note(**fields):
    return {"id": "https://masto.example/users/alice/statuses/1", "type": "Note",
            "attributedTo": "https://masto.example/users/alice", "content": "<p>hi</p>", **fields}


@pytest.mark.parametrize("to,cc,expected", [
    ([PUBLIC], [], "public"), (["as:Public"], [], "public"), ("Public", [], "public"),
    (["https://masto.example/users/alice/followers"], [PUBLIC], "unlisted"),
    (["https://masto.example/users/alice/followers"], [], "followers"),
    (["https://hub.example/actors/lao_cso"], [], "direct"),
])
def test_visibility_from_addressing(to, cc, expected):
    assert convert.from_note(note(to=to, cc=cc)).visibility == expected


def test_remote_note_is_sanitised_and_normalised():
    parsed = convert.from_note(note(
        content='<p onclick="x">ok<script>alert(1)</script><a href="javascript:y">l</a>'
                '<iframe src=z></iframe></p>',
        contentMap={"lo": "ignored"}, summary="<b>cw</b> &amp; more", inReplyTo={"id": "https://x.example/1"},
        tag={"type": "Hashtag", "name": "#ລາວ"}, published="2026-11-26T10:00:00+07:00",
        url=[{"type": "Link", "mediaType": "text/html", "href": "https://masto.example/@alice/1"}],
        attachment=[{"type": "Document", "mediaType": "image/png", "url": "https://m.example/1.png",
                     "name": "<b>alt</b>", "width": 10, "height": True}, {"url": "javascript:x"}]))
    assert parsed.content_html.startswith("<p>ok")
    for bad in ("script", "onclick", "javascript", "iframe"):
        assert bad not in parsed.content_html
    assert parsed.language == "lo"
    assert parsed.summary == "cw & more" and parsed.sensitive
    assert parsed.in_reply_to == "https://x.example/1"
    assert parsed.hashtags == ["ລາວ"]
    assert parsed.published == datetime(2026, 11, 26, 3, 0, 0)
    assert parsed.url == "https://masto.example/@alice/1"
    assert parsed.attachments == [{"url": "https://m.example/1.png", "media_type": "image/png",
                                   "description": "alt", "blurhash": None, "width": 10, "height": None}]


@pytest.mark.parametrize("document", [None, [], {}, {"type": "Note"}, {"id": "ftp://x/1", "type": "Note"},
                                      {"id": "https://x.example/1", "type": "Person"},
                                      {"id": 5, "type": "Note"}])
def test_non_notes_are_refused(document):
    with pytest.raises(convert.NotANote):
        convert.from_note(document)


def test_article_keeps_its_title_and_odd_values_are_tolerated():
    parsed = convert.from_note(note(type="Article", name="<i>Title</i>", content=None,
                                    contentMap={"en": "<p>body</p>"}, to=None, cc=5, tag=[None, 3, "x"],
                                    attachment={"url": 5}, published="yesterday", sensitive="yes"))
    assert parsed.content_html == "<p><strong>Title</strong></p><p>body</p>"
    assert parsed.published is None and parsed.sensitive is False and parsed.attachments == []


def test_remote_actor_with_gotosocial_key_and_hostile_name():
    parsed = convert.from_actor({
        "id": "https://gts.example/users/bob", "type": "Person", "preferredUsername": "bob",
        "name": "Bob\u202e<script>evil</script>", "summary": "<p>hi<img src=x onerror=y></p>",
        "inbox": "https://gts.example/users/bob/inbox", "endpoints": {"sharedInbox": "javascript:x"},
        "icon": [{"type": "Image", "url": "https://gts.example/a.png"}],
        "publicKey": [{"id": "https://other.example/key", "owner": "https://other.example/users/x",
                       "publicKeyPem": "X"},
                      {"id": "https://gts.example/users/bob/main-key", "owner": "https://gts.example/users/bob",
                       "publicKeyPem": "PEM"}]})
    assert parsed.name == "Bob" and "\u202e" not in parsed.name
    assert parsed.summary_html == "<p>hi</p>"
    assert parsed.shared_inbox is None
    assert parsed.icon_url == "https://gts.example/a.png"
    assert (parsed.key_id, parsed.public_key_pem) == ("https://gts.example/users/bob/main-key", "PEM")


def test_actor_without_username_gets_one_from_its_id():
    parsed = convert.from_actor({"id": "https://bovine.example/endpoints/AbC", "type": ["Person"],
                                 "inbox": "https://bovine.example/inbox"})
    assert parsed.handle == "AbC"
    with pytest.raises(convert.NotAnActor):
        convert.from_actor({"id": "https://x.example/1", "type": "Note"})


def test_host_normalisation():
    assert convert.host_of("HTTPS://Masto.Example.:443/users/a") == "masto.example"
    assert convert.host_of("http://masto.example:80/") == "masto.example"
    assert convert.host_of("http://masto.example:8080/") == "masto.example:8080"
    assert convert.host_of("not a url") == ""
