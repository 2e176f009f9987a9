"""Discovery and documents as peers see them: WebFinger, host-meta, NodeInfo, actors, collections,
notes at their ids (content types, CORS, content negotiation, hidden follower counts)."""

from datetime import datetime, timedelta

import pytest
from statements import statements_of

from hub.extensions import db
from hub.models import Actor, Follow
from hub.services import documents, orgs, posts, social, users

AS = "application/activity+json"
HUB = "http://hub.test"
AP_ACCEPT = {"Accept": AS}


@pytest.fixture
def org(make_org):
    return make_org("lao_cso", "ອົງການທົດລອງ")


def get(client, path, **headers):
    return client.get(path, headers=headers, base_url=HUB)


@pytest.mark.parametrize("resource", ["acct:lao_cso@hub.test", "lao_cso@hub.test", "acct:LAO_CSO@HUB.TEST",
                                      "http://hub.test/actors/lao_cso", "http://hub.test/@lao_cso"])
def test_webfinger_resolves_every_form_of_the_handle(client, org, resource):
    response = client.get("/.well-known/webfinger", query_string={"resource": resource})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/jrd+json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    jrd = response.get_json(force=True)
    assert jrd["subject"] == "acct:lao_cso@hub.test"
    assert jrd["aliases"] == ["http://hub.test/@lao_cso", "http://hub.test/actors/lao_cso"]
    selfs = [link for link in jrd["links"] if link["rel"] == "self"]
    assert selfs == [{"rel": "self", "type": AS, "href": "http://hub.test/actors/lao_cso"}]
    rels = {link["rel"] for link in jrd["links"]}
    assert {"http://webfinger.net/rel/profile-page", "http://ostatus.org/schema/1.0/subscribe"} <= rels
    subscribe = next(link for link in jrd["links"] if link["rel"].endswith("subscribe"))
    assert "{uri}" in subscribe["template"]


@pytest.mark.parametrize("resource", ["acct:nobody@hub.test", "acct:lao_cso@other.example",
                                      "mailto:lao_cso@hub.test", "http://other.example/actors/lao_cso",
                                      "acct:lao_cso@hub.test.evil.example"])
def test_webfinger_unknown_resources_are_404_with_cors(client, org, resource):
    response = client.get("/.well-known/webfinger", query_string={"resource": resource})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_webfinger_without_resource_is_400(client, org):
    assert client.get("/.well-known/webfinger").status_code == 400


def test_webfinger_finds_the_instance_actor(client, app):
    jrd = client.get("/.well-known/webfinger", query_string={"resource": "http://hub.test/actor"}).get_json(True)
    assert [link["href"] for link in jrd["links"] if link["rel"] == "self"] == ["http://hub.test/actor"]


def test_host_meta_points_at_webfinger(client):
    response = client.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xrd+xml")
    assert 'rel="lrdd"' in response.text
    assert "http://hub.test/.well-known/webfinger?resource={uri}" in response.text


def test_nodeinfo_links_both_versions_and_the_application_actor(client, org, make_user):
    owner = make_user("owner@example.org", org=org)
    posts.create_post(org, owner, "ສະບາຍດີ", language="lo")
    links = client.get("/.well-known/nodeinfo").get_json()["links"]
    hrefs = {link["rel"]: link["href"] for link in links}
    assert hrefs["http://nodeinfo.diaspora.software/ns/schema/2.0"] == "http://hub.test/nodeinfo/2.0"
    assert hrefs["http://nodeinfo.diaspora.software/ns/schema/2.1"] == "http://hub.test/nodeinfo/2.1"
    assert hrefs["https://www.w3.org/ns/activitystreams#Application"] == "http://hub.test/actor"
    for version in ("2.0", "2.1"):
        response = client.get(f"/nodeinfo/{version}")
        info = response.get_json(force=True)
        assert f"schema/{version}#" in response.headers["Content-Type"]
        assert info["version"] == version
        assert info["software"]["name"] == "cso-hub"
        assert info["protocols"] == ["activitypub"]
        assert info["openRegistrations"] is False
        assert info["usage"]["users"]["total"] == 1
        assert info["usage"]["users"]["activeMonth"] == 1
        assert info["usage"]["localPosts"] == 1
    assert client.get("/nodeinfo/1.0").status_code == 404


def test_actor_document_is_mastodon_shaped(client, org, app):
    org.website, org.bio_lo, org.discoverable = "https://cso.example.la", "ສະບາຍດີ <b>", True
    org.manually_approves_followers = True
    db.session.commit()
    response = get(client, "/actors/lao_cso", Accept=AS)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/activity+json; charset=utf-8"
    assert "Accept" in response.headers["Vary"]
    actor = response.get_json(force=True)
    assert actor["@context"][:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    assert actor["id"] == "http://hub.test/actors/lao_cso"
    assert actor["type"] == "Organization"
    assert actor["preferredUsername"] == "lao_cso"
    assert actor["name"] == "ອົງການທົດລອງ"
    assert actor["summary"] == "<p>ສະບາຍດີ &lt;b&gt;</p>"
    assert actor["url"] == "http://hub.test/@lao_cso"
    assert actor["inbox"] == "http://hub.test/actors/lao_cso/inbox"
    assert actor["endpoints"]["sharedInbox"] == "http://hub.test/inbox"
    assert actor["outbox"].endswith("/outbox") and actor["followers"].endswith("/followers")
    assert actor["featured"] == "http://hub.test/actors/lao_cso/featured"
    assert actor["webfinger"] == "acct:lao_cso@hub.test"
    assert actor["manuallyApprovesFollowers"] is True
    assert actor["discoverable"] is True and actor["indexable"] is True
    assert actor["published"].endswith("Z")
    assert actor["publicKey"] == {"id": "http://hub.test/actors/lao_cso#main-key",
                                  "owner": "http://hub.test/actors/lao_cso",
                                  "publicKeyPem": org.public_key_pem}
    assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert actor["attachment"][0]["type"] == "PropertyValue"
    assert 'href="https://cso.example.la"' in actor["attachment"][0]["value"]


def test_network_is_a_group_and_instance_an_application(client, app):
    orgs.create_network("lao_net", "Lao network")
    assert get(client, "/actors/lao_net", Accept=AS).get_json(force=True)["type"] == "Group"
    instance = get(client, "/actor", Accept=AS).get_json(force=True)
    assert instance["type"] == "Application"
    assert instance["id"] == "http://hub.test/actor"
    assert instance["publicKey"]["id"] == "http://hub.test/actor#main-key"


def test_profile_url_serves_the_actor_to_peers(client, org):
    for accept in (AS, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'):
        response = get(client, "/@lao_cso", Accept=accept)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/activity+json; charset=utf-8"
        assert response.get_json(force=True)["id"] == "http://hub.test/actors/lao_cso"
    assert get(client, "/@nobody", Accept=AS).status_code == 404


def test_browsers_get_html_not_json(client, org):
    response = get(client, "/actors/lao_cso", Accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 302 and response.headers["Location"].endswith("/@lao_cso")
    response = get(client, "/@lao_cso", Accept="text/html,*/*;q=0.8")
    assert "activity+json" not in response.headers.get("Content-Type", "")


def test_unknown_actor_is_404(client, app):
    assert get(client, "/actors/nobody", Accept=AS).status_code == 404


def _publish(org, make_user, text="ສະບາຍດີ #ເດັ່ນ", **kwargs):
    user = users.find_user("owner@example.org") or make_user("owner@example.org", org=org)
    return posts.create_post(org, user, text, **kwargs)


def test_note_served_at_its_id_with_contentmap_and_tags(client, org, make_user):
    post = _publish(org, make_user, language="lo", summary="ຄຳເຕືອນ")
    response = get(client, f"/@lao_cso/{post.id}", Accept=AS)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/activity+json; charset=utf-8"
    note = response.get_json(force=True)
    assert note["id"] == post.uri == f"http://hub.test/@lao_cso/{post.id}"
    assert note["type"] == "Note"
    assert note["attributedTo"] == org.uri
    assert note["contentMap"] == {"lo": note["content"]}
    assert note["summary"] == "ຄຳເຕືອນ" and note["sensitive"] is True
    assert note["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
    assert note["cc"] == [org.followers_url]
    assert {"type": "Hashtag", "href": "http://hub.test/tags/%E0%BB%80%E0%BA%94%E0%BA%B1%E0%BB%88%E0%BA%99",
            "name": "#ເດັ່ນ"} in note["tag"]
    assert note["published"].endswith("Z")
    activity = get(client, f"/@lao_cso/{post.id}/activity", Accept=AS).get_json(force=True)
    assert activity["type"] == "Create" and activity["object"]["id"] == post.uri


@pytest.mark.parametrize("visibility,to,cc", [
    ("unlisted", ["{followers}"], ["https://www.w3.org/ns/activitystreams#Public"]),
])
def test_unlisted_addressing(client, org, make_user, visibility, to, cc):
    post = _publish(org, make_user, visibility=visibility)
    note = get(client, f"/@lao_cso/{post.id}", Accept=AS).get_json(force=True)
    assert note["to"] == [t.format(followers=org.followers_url) for t in to]
    assert note["cc"] == cc


def test_private_and_absent_posts_answer_the_same_404(client, org, make_user):
    private = _publish(org, make_user, visibility="followers")
    draft = posts.create_post(org, private.author, "draft", action="draft")
    answers = [get(client, f"/@lao_cso/{n}", Accept=AS) for n in (private.id, draft.id, 99999)]
    assert {r.status_code for r in answers} == {404}
    assert len({r.data for r in answers}) == 1
    assert get(client, f"/@lao_cso/{private.id}/activity", Accept=AS).status_code == 404


def test_deleted_post_is_410_tombstone(client, org, make_user):
    post = _publish(org, make_user)
    posts.delete(post, post.author)
    response = get(client, f"/@lao_cso/{post.id}", Accept=AS)
    assert response.status_code == 410
    body = response.get_json(force=True)
    assert body["type"] == "Tombstone" and body["id"] == post.uri


def test_post_of_another_org_is_not_served_under_this_handle(client, org, make_org, make_user):
    post = _publish(org, make_user)
    make_org("other", "Other")
    assert get(client, f"/@other/{post.id}", Accept=AS).status_code == 404


def test_outbox_is_paged_newest_first_with_public_posts_only(client, org, make_user, app):
    made = [_publish(org, make_user, text=f"post {n}") for n in range(23)]
    _publish(org, make_user, text="secret", visibility="followers")
    _publish(org, make_user, text="quiet", visibility="unlisted")
    outbox = get(client, "/actors/lao_cso/outbox", Accept=AS).get_json(force=True)
    assert outbox["type"] == "OrderedCollection"
    assert outbox["totalItems"] == 23
    page = get(client, outbox["first"].removeprefix(HUB), Accept=AS).get_json(force=True)
    assert page["type"] == "OrderedCollectionPage" and page["partOf"] == outbox["id"]
    assert len(page["orderedItems"]) == 20
    assert page["orderedItems"][0]["object"]["id"] == made[-1].uri
    assert all(item["type"] == "Create" for item in page["orderedItems"])
    second = get(client, page["next"].removeprefix(HUB), Accept=AS).get_json(force=True)
    assert [i["object"]["id"] for i in second["orderedItems"]] == [p.uri for p in made[2::-1]]
    assert "next" not in second
    assert get(client, "/actors/lao_cso/outbox?page=abc", Accept=AS).status_code == 404


def test_the_outbox_merges_posts_and_boosts_by_time_across_pages(client, org, make_org, make_user):
    own = [_publish(org, make_user, text=f"ຂ່າວ {n}") for n in range(13)]
    other = make_org("other_cso", "ອົງການອື່ນ")
    boosted = [posts.create_post(other, make_user(f"staff{n}@example.org", org=other), f"ເລື່ອງ {n}")
               for n in range(12)]
    boosts = [social.boost(org, post.uri) for post in boosted]
    start = datetime(2026, 1, 1)
    for n, post in enumerate(own):  # posts at even minutes, boosts at odd ones, given in mixed order
        post.published_at = start + timedelta(minutes=2 * n)
    for n, boost in enumerate(boosts):
        boost.created_at = start + timedelta(minutes=2 * n + 1)
    db.session.commit()
    expected = sorted([(p.published_at, p.uri, "Create") for p in own]
                      + [(b.created_at, b.uri, "Announce") for b in boosts], reverse=True)
    pages = [get(client, f"/actors/lao_cso/outbox?page={n}", Accept=AS).get_json(force=True) for n in (1, 2)]
    items = [(item["type"], item["object"]["id"] if item["type"] == "Create" else item["id"])
             for page in pages for item in page["orderedItems"]]
    assert [len(page["orderedItems"]) for page in pages] == [20, 5]
    assert items == [(kind, uri) for _, uri, kind in expected]
    assert "next" in pages[0] and "next" not in pages[1]


def _outbox_page(client, url) -> dict:
    return get(client, url.removeprefix(HUB), Accept=AS).get_json(force=True)


def _ids(page) -> list[str]:
    return [item["object"]["id"] if item["type"] == "Create" else item["id"] for item in page["orderedItems"]]


def test_a_post_published_between_two_fetches_repeats_nothing_on_the_next_page(client, org, make_user):
    made = [_publish(org, make_user, text=f"ຂ່າວ {n}") for n in range(25)]
    first = _outbox_page(client, "/actors/lao_cso/outbox?page=1")
    _publish(org, make_user, text="ຂ່າວດ່ວນ")  # the newest now, in front of the first page
    second = _outbox_page(client, first["next"])
    assert _ids(first) == [p.uri for p in made[:4:-1]]
    assert _ids(second) == [p.uri for p in made[4::-1]]  # the five oldest, none of the first page
    assert "next" not in second and second["id"] == first["next"]


def test_outbox_cursors_walk_through_equal_times_without_a_gap_or_a_repeat(client, org, make_org, make_user,
                                                                           monkeypatch):
    own = [_publish(org, make_user, text=f"ຂ່າວ {n}") for n in range(4)]
    other = make_org("other_cso", "ອົງການອື່ນ")
    writer = make_user("staff@example.org", org=other)
    boosts = [social.boost(org, posts.create_post(other, writer, f"ເລື່ອງ {n}").uri) for n in range(4)]
    same = datetime(2026, 1, 1, 8, 30)
    for post in own:
        post.published_at = same
    for boost in boosts:
        boost.created_at = same
    db.session.commit()
    whole = _ids({"orderedItems": documents.outbox_items(org, 20)[0]})  # not through the public cache
    assert len(whole) == 8
    monkeypatch.setattr(documents, "PAGE_SIZE", 3)
    walked, page = [], _outbox_page(client, "/actors/lao_cso/outbox?page=1")
    while True:
        walked += _ids(page)
        if "next" not in page:
            break
        page = _outbox_page(client, page["next"])
    assert walked == whole


@pytest.mark.parametrize("cursor", ["abc", "2026-13-01T00:00:00_p1", "2026-01-01T00:00:00_x1",
                                    "2026-01-01T00:00:00+07:00_p1", "2026-01-01T00:00:00_p", ""])
def test_a_malformed_outbox_cursor_is_not_found(client, org, cursor):
    assert get(client, f"/actors/lao_cso/outbox?before={cursor}", Accept=AS).status_code == 404


def _statements_of(client, path) -> list[str]:
    return statements_of(lambda: _ok(get(client, path, Accept=AS)))


def _ok(response) -> None:
    assert response.status_code == 200


def test_an_outbox_page_costs_the_same_few_statements_however_many_items_it_holds(client, org, make_user):
    for n in range(21):
        _publish(org, make_user, text=f"ຂ່າວ {n} #ນ້ຳຖ້ວມ")
    full = _statements_of(client, "/actors/lao_cso/outbox?page=1")  # 20 items
    last = _statements_of(client, "/actors/lao_cso/outbox?page=2")  # 1 item
    after = _outbox_page(client, "/actors/lao_cso/outbox?page=1")["next"].removeprefix(HUB)
    assert len(_statements_of(client, after)) == len(full)  # the same page by its cursor
    # the actor, the page's ids, its posts, their media, tags and mentions: none per item
    assert len(full) == len(last) <= 6, full
    # the owner is read once, by handle; the page's posts find it in the session, not in a query
    assert sum("FROM actors" in statement for statement in full) == 1, full


def _remote_follower(org, n, state=Follow.ACCEPTED):
    actor = Actor(type="Person", handle=f"f{n}", domain="masto.example", uri=f"https://masto.example/users/f{n}",
                  inbox=f"https://masto.example/users/f{n}/inbox", shared_inbox="https://masto.example/inbox")
    db.session.add(actor)
    db.session.flush()
    db.session.add(Follow(follower_id=actor.id, target_id=org.id, state=state,
                          uri=f"https://masto.example/follows/{n}"))
    db.session.commit()
    return actor


def test_followers_are_hidden_unless_the_org_opts_in(client, org):
    for n in range(3):
        _remote_follower(org, n)
    _remote_follower(org, 9, Follow.PENDING)
    hidden = get(client, "/actors/lao_cso/followers", Accept=AS).get_json(force=True)
    assert hidden == {"@context": "https://www.w3.org/ns/activitystreams", "id": org.followers_url,
                      "type": "OrderedCollection"}
    assert get(client, "/actors/lao_cso/followers?page=1", Accept=AS).status_code == 404
    assert "totalItems" not in get(client, "/actors/lao_cso/following", Accept=AS).get_json(force=True)
    org.show_follows = True
    db.session.commit()
    shown = get(client, "/actors/lao_cso/followers", Accept=AS).get_json(force=True)
    assert shown["totalItems"] == 3
    page = get(client, shown["first"].removeprefix(HUB), Accept=AS).get_json(force=True)
    assert sorted(page["orderedItems"]) == [f"https://masto.example/users/f{n}" for n in range(3)]


def test_featured_is_an_empty_collection(client, org):
    featured = get(client, "/actors/lao_cso/featured", Accept=AS).get_json(force=True)
    assert featured["type"] == "OrderedCollection" and featured["totalItems"] == 0
    assert featured["orderedItems"] == []


def test_inbox_is_not_readable(client, org):
    assert client.get("/inbox").status_code == 405
    assert client.get("/actors/lao_cso/inbox").status_code == 405
