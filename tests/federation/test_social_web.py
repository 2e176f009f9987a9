"""The staff pages of the fediverse side, driven through the Flask test client as a signed-in
member: notifications, follow requests, followers (owners only), follow/boost/like by handle or
URL, and per-post delivery status."""

import re

import pytest
from flask import g
from sqlalchemy import select
from statements import statements_of

from hub import worker
from hub.extensions import db, login_manager
from hub.models import Actor, Boost, Follow, Like
from hub.services import delivery, inbox, notifications, posts, reach, social, users
from hub.web import social as social_web


@pytest.fixture
def web(app, client):
    """A client that can sign in as anyone (the session a sign-in would create)."""
    app.config.update(WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)  # the tests run on http
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # assertions read the English texts
    if login_manager._user_callback is None:  # until the web blueprint registers its loader
        login_manager.user_loader(users.load_session_user)

    def sign_in(user):
        g.pop("_login_user", None)  # the test's app context (and g) outlives each request
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return client
    return sign_in


def follow_in(client, org, actor):
    actor.post_to(client, "/inbox", actor.activity("Follow", org.uri))
    inbox.process_due(10)


def test_pages_need_a_signed_in_member(web, client, org, make_user, make_org):
    response = client.get("/manage/lao_cso/notifications")
    assert response.status_code in (302, 401)
    stranger = make_user("stranger@example.org", org=make_org("elsewhere", "Elsewhere"))
    assert web(stranger).get("/manage/lao_cso/notifications").status_code == 403
    assert web(stranger).get("/manage/nobody/notifications").status_code == 404


def test_notifications_show_followers_replies_likes(web, org, owner, peer):
    client = web(owner)
    alice = peer.add_actor("alice")
    alice.document["name"] = "Alice <script>x</script>"
    peer.publish_actor(alice)
    follow_in(client, org, alice)
    post = posts.create_post(org, owner, "ສະບາຍດີ", language="lo")
    alice.post_to(client, "/inbox", alice.activity("Create", alice.note("<p>ຂອບໃຈ<script>bad()</script></p>",
                                                                           in_reply_to=post.uri)))
    alice.post_to(client, "/inbox", alice.activity("Like", post.uri))
    inbox.process_due(10)
    page = client.get("/manage/lao_cso/notifications").get_data(as_text=True)
    assert "followed you" in page and "replied to your post" in page and "liked your post" in page
    assert "ຂອບໃຈ" in page
    assert "<script" not in page
    assert page.count("unread") >= 3
    client.post("/manage/lao_cso/notifications/read")
    page = client.get("/manage/lao_cso/notifications").get_data(as_text=True)
    assert "notification follow unread" not in page


def test_follow_requests_page_approves(web, org, owner, peer):
    org.manually_approves_followers = True
    db.session.commit()
    client = web(owner)
    alice = peer.add_actor("alice")
    follow_in(client, org, alice)
    page = client.get("/manage/lao_cso/follow-requests").get_data(as_text=True)
    assert "@alice@" in page
    row = db.session.scalar(select(Follow))
    assert client.post(f"/manage/lao_cso/follow-requests/{row.id}/approve").status_code == 302
    db.session.refresh(row)
    assert row.state == Follow.ACCEPTED
    worker.run_once()
    assert [a["type"] for a in peer.received()] == ["Accept"]


def test_followers_list_is_for_owners_only(web, org, owner, make_user, peer):
    editor = make_user("editor@example.org", org=org, role="editor")
    follow_in(web(owner), org, peer.add_actor("alice"))
    assert web(editor).get("/manage/lao_cso/followers").status_code == 403
    page = web(owner).get("/manage/lao_cso/followers").get_data(as_text=True)
    assert "@alice@" in page
    row = db.session.scalar(select(Follow))
    web(owner).post(f"/manage/lao_cso/followers/{row.id}/remove")
    assert db.session.query(Follow).count() == 0


def test_follow_boost_and_like_by_handle_or_url(web, org, owner, peer):
    client = web(owner)
    bob = peer.add_actor("bob")
    response = client.post("/manage/lao_cso/follow", data={"target": f"@bob@{peer.netloc}"})
    assert response.status_code == 302
    assert db.session.scalar(select(Follow)).target.uri == bob.uri
    page = client.get("/manage/lao_cso/fediverse").get_data(as_text=True)
    assert "waiting for approval" in page and "@bob@" in page
    note = bob.note("ຂ່າວດີ")
    client.post("/manage/lao_cso/boost", data={"target": note["id"]})
    client.post("/manage/lao_cso/like", data={"target": note["id"]})
    assert db.session.query(Boost).count() == 1 and db.session.query(Like).count() == 1
    worker.run_once()
    assert sorted(a["type"] for a in peer.received()) == ["Announce", "Follow", "Like"]
    client.post("/manage/lao_cso/unfollow", data={"target": bob.uri})
    assert db.session.query(Follow).count() == 0


def test_errors_are_shown_not_raised(web, org, owner):
    client = web(owner)
    response = client.post("/manage/lao_cso/follow", data={"target": "not a handle"}, follow_redirects=True)
    assert response.status_code == 200
    assert "Type an account" in response.get_data(as_text=True)


def test_contributors_may_not_follow(web, org, make_user, peer):
    contributor = make_user("c@example.org", org=org, role="contributor")
    bob = peer.add_actor("bob")
    assert web(contributor).post("/manage/lao_cso/follow", data={"target": bob.uri}).status_code == 403
    assert db.session.query(Follow).count() == 0


def test_delivery_status_per_post(web, org, owner, peer):
    client = web(owner)
    follow_in(client, org, peer.add_actor("alice"))
    worker.run_once()
    post = posts.create_post(org, owner, "ສະບາຍດີ", language="lo")
    page = client.get(f"/manage/lao_cso/posts/{post.id}/deliveries").get_data(as_text=True)
    assert "Waiting: <strong>1</strong>" in page
    worker.run_once()
    page = client.get(f"/manage/lao_cso/posts/{post.id}/deliveries").get_data(as_text=True)
    assert "Delivered: <strong>1</strong>" in page and peer.netloc in page


def test_the_delivery_page_goes_a_page_of_servers_at_a_time(web, org, owner, monkeypatch):
    monkeypatch.setattr(reach, "SERVERS_PER_PAGE", 1)
    post = posts.create_post(org, owner, "ແຈ້ງການ")
    activity = {"id": f"{post.uri}/activity", "type": "Create", "actor": org.uri}
    delivery.enqueue(activity, org, ["https://one.example/inbox", "https://two.example/inbox"], post=post)
    reach.add_pruned(post.id, {"https://gone-by.example/inbox"})
    db.session.commit()
    client = web(owner)
    first = client.get(f"/manage/lao_cso/posts/{post.id}/deliveries").get_data(as_text=True)
    assert "one.example" in first and "two.example" not in first and "Servers: 2" in first
    assert f"/manage/lao_cso/posts/{post.id}/deliveries?page=2" in first and "Previous servers" not in first
    assert "Inboxes it had reached: 1." in first
    second = client.get(f"/manage/lao_cso/posts/{post.id}/deliveries?page=2").get_data(as_text=True)
    assert "two.example" in second and "Previous servers" in second and "More servers" not in second
    for bad in ("abc", "0", "99"):
        response = client.get(f"/manage/lao_cso/posts/{post.id}/deliveries?page={bad}")
        assert response.status_code == 200 and "Page" in response.get_data(as_text=True)


def remote_accounts(org, count, state=Follow.ACCEPTED, *, following=False):
    """`count` remote accounts following the organisation (or followed by it), oldest first."""
    for n in range(count):
        actor = Actor(type="Person", handle=f"reader{n}", domain=f"s{n}.example", name=f"ຜູ້ອ່ານ {n}",
                      uri=f"https://s{n}.example/users/reader{n}", inbox=f"https://s{n}.example/inbox")
        db.session.add(actor)
        db.session.flush()
        pair = (org.id, actor.id) if following else (actor.id, org.id)
        db.session.add(Follow(follower_id=pair[0], target_id=pair[1], state=state))
    db.session.commit()


@pytest.mark.parametrize(("url", "state", "following"), [
    ("/manage/lao_cso/followers", Follow.ACCEPTED, False),
    ("/manage/lao_cso/follow-requests", Follow.PENDING, False),
    ("/manage/lao_cso/fediverse", Follow.ACCEPTED, True)])
def test_lists_of_accounts_go_a_page_at_a_time_newest_first(web, org, owner, monkeypatch, url, state,
                                                            following):
    monkeypatch.setattr(social, "PER_PAGE", 2)
    remote_accounts(org, 3, state, following=following)
    client = web(owner)
    first = client.get(url).get_data(as_text=True)
    assert "@reader2@s2.example" in first and "@reader1@s1.example" in first
    assert "@reader0@" not in first and "(3)" in first and "Newest" not in first
    older = re.search(r'href="([^"]*before=\d+)"', first).group(1)
    second = client.get(older).get_data(as_text=True)
    assert "@reader0@s0.example" in second and "@reader1@" not in second
    assert "Newest" in second and "before=" not in second.split("Newest")[1]


def _statements_of(call) -> int:
    db.session.expire_all()  # as in a new request: nothing loaded yet
    return len(statements_of(call))


def test_a_page_of_followers_reads_their_accounts_in_the_same_query(org, owner):
    def read_page(size):
        page = social.followers(org, user=owner, limit=size)
        assert len({follow.follower.handle for follow in page.items}) == size

    remote_accounts(org, 30)
    assert _statements_of(lambda: read_page(25)) == _statements_of(lambda: read_page(1)) <= 6
    page = social.followers(org, user=owner, limit=25)
    assert page.total == 30 and page.older == page.items[-1].id


def liked_by_readers(org, owner, count):
    """`count` likes of one post, each from another remote account, each notified."""
    post = posts.create_post(org, owner, "ຂໍຂອບໃຈທຸກຄົນ")
    remote_accounts(org, count)
    for actor in db.session.scalars(select(Actor).where(Actor.domain.is_not(None)).order_by(Actor.id)):
        notifications.notify(org, notifications.LIKE, actor, post)
    db.session.commit()


def test_notifications_go_a_page_at_a_time(web, org, owner, monkeypatch):
    monkeypatch.setattr(social_web, "NOTIFICATIONS_PER_PAGE", 2)
    liked_by_readers(org, owner, 3)
    client = web(owner)
    first = client.get("/manage/lao_cso/notifications").get_data(as_text=True)
    assert "@reader2@" in first and "@reader1@" in first and "@reader0@" not in first
    older = re.search(r'href="([^"]*before=\d+)"', first).group(1)
    second = client.get(older).get_data(as_text=True)
    assert "@reader0@" in second and "@reader1@" not in second and "Newest" in second


def test_a_page_of_notifications_reads_accounts_and_posts_in_the_same_query(org, owner):
    liked_by_readers(org, owner, 20)

    def read_page(size):
        items = notifications.for_org(org, limit=size).items
        assert len({(item.from_actor.handle, item.post.source) for item in items}) == size

    assert _statements_of(lambda: read_page(20)) == _statements_of(lambda: read_page(1))


def test_authorize_interaction_opens_the_fediverse_page(web, org, owner):
    response = web(owner).get("/authorize_interaction?uri=https://masto.example/@a/1")
    assert response.status_code == 302
    assert "/manage/lao_cso/fediverse?uri=https" in response.headers["Location"]


def test_pages_speak_lao_by_default(web, org, owner):
    client = web(owner)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "lo"
    page = client.get("/manage/lao_cso/fediverse").get_data(as_text=True)
    assert 'lang="lo"' in page and "Follow an account" not in page
