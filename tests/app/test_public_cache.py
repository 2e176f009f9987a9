"""The per-process cache of public answers (hub.microcache): what it keeps, for whom, and what
clears it. Changes made behind the session's back (a second connection, as another process would)
show whether an answer came from the cache."""

import pytest
from sqlalchemy import update
from web_support import Web

from hub import create_app
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
