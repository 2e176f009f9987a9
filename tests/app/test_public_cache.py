"""The per-process cache of public answers (hub.microcache): what it keeps, for whom, and what
clears it. Changes made behind the session's back (a second connection, as another process would)
show whether an answer came from the cache."""

import threading

import pytest
from sqlalchemy import update
from web_support import Web

from hub import create_app, microcache
from hub.config import ConfigError
from hub.extensions import db
from hub.models import Actor, InboxItem

AS = {"Accept": "application/activity+json"}


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


def _set_elsewhere(**values) -> None:
    """Change the organisation on another connection: this process's session sees no commit."""
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(update(Actor.__table__).where(Actor.__table__.c.handle == "lao_cso").values(**values))


def _rename_elsewhere(app, name: str) -> None:
    _set_elsewhere(name=name)


def _name(client, headers=AS) -> str:
    db.session.expire_all()  # the test's session outlives requests; a request in production starts afresh
    response = client.get("/actors/lao_cso", headers=headers)
    assert response.status_code == 200
    return response.get_json()["name"]


def test_an_anonymous_actor_fetch_is_answered_from_the_cache(app, client, org):
    assert _name(client) == "ອົງການທົດລອງ"
    _rename_elsewhere(app, "ຊື່ໃໝ່ຂອງອົງການ")
    assert _name(client) == "ອົງການທົດລອງ"
    member = app.test_client()
    member.set_cookie("session", "anything")
    assert _name(member) == "ຊື່ໃໝ່ຂອງອົງການ"  # a request with a cookie is never cached


def test_a_local_commit_of_public_data_clears_the_cache(app, client, org):
    assert _name(client) == "ອົງການທົດລອງ"
    _rename_elsewhere(app, "ຊື່ໃໝ່")
    org = db.session.get(Actor, org.id)
    org.bio_en = "Now with a bio"
    db.session.commit()
    assert _name(client) == "ຊື່ໃໝ່"


def test_a_commit_to_the_queues_alone_keeps_the_cache(app, client, org):
    assert _name(client) == "ອົງການທົດລອງ"
    _rename_elsewhere(app, "ຊື່ໃໝ່")
    db.session.add(InboxItem(activity_uri="https://peer.example/a/1", type="Create",
                             actor_uri="https://peer.example/u/a", payload="{}", state="queued"))
    db.session.commit()
    assert _name(client) == "ອົງການທົດລອງ"


def test_each_accept_and_language_has_its_own_entry(app, client, org):
    lao = Web(app, "lo").get("/@lao_cso").get_data(as_text=True)
    english = Web(app, "en").get("/@lao_cso").get_data(as_text=True)
    assert 'lang="lo"' in lao and 'lang="en"' in english
    assert client.get("/@lao_cso", headers=AS).get_json()["type"] == "Organization"
    assert "<html" in client.get("/@lao_cso").get_data(as_text=True)


def test_answers_other_than_200_are_not_kept(app, client, org):
    _set_elsewhere(suspended=True)
    assert client.get("/actors/lao_cso", headers=AS).status_code == 404
    _set_elsewhere(suspended=False)
    assert client.get("/actors/lao_cso", headers=AS).status_code == 200


def test_zero_seconds_turns_the_cache_off(app, make_org, tmp_path, db_url):
    make_org("lao_cso", "ອົງການທົດລອງ")
    db.session.commit()
    config = {key: app.config[key] for key in ("TESTING", "SECRET_KEY", "HUB_DOMAIN", "HUB_SCHEME",
                                               "HUB_INSTANCE_DIR", "SQLALCHEMY_DATABASE_URI")}
    uncached = create_app({**config, "HUB_PUBLIC_CACHE_SECONDS": 0})
    client = uncached.test_client()
    assert _name(client) == "ອົງການທົດລອງ"
    _rename_elsewhere(app, "ຊື່ໃໝ່")
    assert _name(client) == "ຊື່ໃໝ່"
    with uncached.app_context():
        db.engine.dispose()


def test_a_bad_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HUB_PUBLIC_CACHE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="HUB_PUBLIC_CACHE_SECONDS"):
        create_app({"SECRET_KEY": "x"})


# --- an aged answer is renewed by one request while the others still get it --------------------

class _Clock:
    """time.monotonic for hub.microcache, moved by the test."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Page:
    """A WSGI app whose answers the test sets; `hold` keeps a request inside the app."""

    def __init__(self):
        self.status, self.body, self.runs = "200 OK", b"first", 0
        self.hold = None
        self.inside = threading.Event()

    def __call__(self, environ, start_response):
        self.runs += 1
        environ[microcache.CACHEABLE] = True
        status, body, hold, self.hold = self.status, self.body, self.hold, None  # only one is held
        if hold is not None:
            self.inside.set()
            hold.wait(10)
        start_response(status, [("Content-Type", "text/plain")])
        return [body]


def _renew_held(cache, page) -> tuple[threading.Thread, threading.Event]:
    """Start a request that renews the aged answer and is held inside the app until released."""
    page.hold, page.inside = threading.Event(), threading.Event()
    release = page.hold
    renewing = threading.Thread(target=_get, args=(cache,))
    renewing.start()
    assert page.inside.wait(10)
    return renewing, release


def _get(cache) -> tuple[str, bytes]:
    started = {}
    body = b"".join(cache({"REQUEST_METHOD": "GET", "PATH_INFO": "/@lao_cso", "HTTP_HOST": "hub.test"},
                          lambda status, headers, exc_info=None: started.update(status=status)))
    return started["status"], body


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves instead of waiting."""
    moved = _Clock()
    monkeypatch.setattr(microcache.time, "monotonic", moved)
    return moved


def test_while_one_request_renews_an_aged_answer_the_others_get_it(clock):
    page = _Page()
    cache = microcache.PublicCache(page, seconds=5)
    assert _get(cache) == ("200 OK", b"first")
    clock.now += 6  # aged, but less than twice the cache's seconds
    page.body = b"second"
    renewing, release = _renew_held(cache, page)
    assert _get(cache) == ("200 OK", b"first")  # not a second rebuild of the same page
    assert page.runs == 2
    release.set()
    renewing.join(10)
    assert _get(cache) == ("200 OK", b"second")
    assert page.runs == 2


def test_an_answer_older_than_twice_the_seconds_is_never_given(clock):
    page = _Page()
    cache = microcache.PublicCache(page, seconds=5)
    _get(cache)
    clock.now += 6
    page.body = b"second"
    renewing, release = _renew_held(cache, page)
    clock.now += 5  # 11 s old while the renewal is still running
    assert _get(cache) == ("200 OK", b"second")
    assert page.runs == 3
    release.set()
    renewing.join(10)


def test_when_the_renewal_is_not_kept_the_aged_answer_is_dropped(clock):
    page = _Page()
    cache = microcache.PublicCache(page, seconds=5)
    _get(cache)
    clock.now += 6
    page.status, page.body = "404 NOT FOUND", b"gone"  # e.g. the organisation was deleted meanwhile
    assert _get(cache) == ("404 NOT FOUND", b"gone")
    renewing, release = _renew_held(cache, page)  # had the old 200 been kept, this would renew it
    assert _get(cache) == ("404 NOT FOUND", b"gone")  # and this would be given the old 200
    release.set()
    renewing.join(10)
    assert page.runs == 4
