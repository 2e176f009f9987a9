"""hub/outage.py: while the database cannot be reached (PostgreSQL restarting, SQLite locked too long),
pages and JSON answer 503 with Retry-After in the visitor's language, with one warning line in the
log and no traceback; any other database error is still Flask's 500."""

import json
import sqlite3

import pytest
import sqlalchemy as sa
from databases import drop_connections, unreachable_postgresql_url
from sqlalchemy.exc import OperationalError
from web_support import Web, text_of

from hub import create_app
from hub.extensions import db
from hub.services import orgs, users


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


@pytest.fixture
def down(app, db_url):
    """The hub with nothing listening where its PostgreSQL should be (once: the suite's database
    plays no part)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the same hub on an unreachable PostgreSQL, run once")
    return create_app({**app.config, "SQLALCHEMY_DATABASE_URI": unreachable_postgresql_url()})


def test_pages_answer_503_in_the_browsers_language_and_try_again_by_themselves(down, caplog):
    lao = Web(down, accept_language="lo").get("/")
    assert lao.status_code == 503
    assert lao.headers["Retry-After"] == "30" and lao.headers["Cache-Control"] == "no-store"
    assert lao.mimetype == "text/html"
    page = lao.get_data(as_text=True)
    assert '<html lang="lo">' in page and '<meta http-equiv="refresh" content="30">' in page
    assert "ບໍ່ພ້ອມໃຊ້ງານຊົ່ວຄາວ" in text_of(lao) and "ໜ້ານີ້ຈະລອງໃໝ່ເອງໃນອີກ 30 ວິນາທີ" in text_of(lao)
    english = Web(down, accept_language="en").get("/@lao_cso")
    assert english.status_code == 503 and "Unavailable for a moment" in text_of(english)
    assert "try again by itself" in text_of(english) and "Unavailable" not in text_of(lao)
    assert "Traceback" not in caplog.text and {r.levelname for r in caplog.records} == {"WARNING"}
    assert len(caplog.records) == 1  # one line every ten seconds, not one a request
    assert "Connection refused" in caplog.text and "1 requests answered 503" in caplog.text


def test_a_form_sent_during_the_outage_is_not_sent_again_by_the_page(down):
    web = Web(down, accept_language="en")
    response = web.submit("/login", {"email": "owner@example.la", "password": "whatever it is"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "may not have been saved" in text_of(response)
    assert 'http-equiv="refresh"' not in response.get_data(as_text=True)  # a GET of /login would lose it


def test_peers_get_json(down):
    client = down.test_client()
    for path, accept in (("/actors/lao_cso", "application/activity+json"),
                         ("/.well-known/webfinger?resource=acct:lao_cso@hub.test", "*/*"),
                         ("/@lao_cso", 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"')):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 503 and response.headers["Retry-After"] == "30", path
        assert response.mimetype == "application/json"
        assert json.loads(response.data) == {"status": 503,
                                             "reason": "the database cannot be reached; try again later"}


def test_after_postgresql_restarts_a_stale_connection_costs_one_request_a_503_not_a_500(app, db_url, org):
    if not db_url.startswith("postgresql"):
        pytest.skip("what a PostgreSQL restart does to the pooled connections")
    name = "hub_outage_page_test"  # the hub's connections, told apart from the test's own
    url = sa.make_url(db_url).update_query_dict({"application_name": name})
    hub = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                      "HUB_PUBLIC_CACHE_SECONDS": 0})
    client = hub.test_client()
    assert client.get("/@lao_cso").status_code == 200  # a connection now waits in the pool
    assert drop_connections(name) == 1
    stale = client.get("/@lao_cso")
    assert stale.status_code == 503 and stale.headers["Retry-After"] == "30"
    assert client.get("/@lao_cso").status_code == 200  # the pool was renewed: served again at once


def test_a_member_already_loaded_reads_the_page_in_their_own_language(app, db_url, org, make_user):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock, held by another connection past the busy timeout")
    member = make_user("owner@example.la", org, "owner", locale="en")
    orgs.add_member(orgs.create_org("lao_women", "ສະມາຄົມແມ່ຍິງ"), member, "owner")  # a switcher
    impatient = create_app({**app.config, "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 0.2}}})
    web = Web(impatient, accept_language="lo").signed_in_as(users.find_user("owner@example.la"))
    token, before = web.token("/settings"), member.current_org_id
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN EXCLUSIVE")  # WAL: the member is still read; the switch cannot be written
    try:
        response = web.client.post("/switch", data={"csrf_token": token, "org": "lao_women"},
                                    headers=web.headers)
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503 and '<html lang="en">' in response.get_data(as_text=True)
    assert "may not have been saved" in text_of(response)
    db.session.rollback()
    assert users.find_user("owner@example.la").current_org_id == before  # nothing half-written


def test_any_other_database_error_is_still_flasks_500(app, db_url, org):
    if not db_url.startswith("sqlite"):
        pytest.skip("a table dropped under the app: the same on either database")
    db.session.execute(db.text("DROP TABLE posts"))  # a mistake, not an outage: waiting mends nothing
    db.session.commit()
    client = create_app({**app.config}).test_client()
    with pytest.raises(OperationalError, match="no such table"):
        client.get("/@lao_cso")
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/@lao_cso")
    assert response.status_code == 500 and "Retry-After" not in response.headers
