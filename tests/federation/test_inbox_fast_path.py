"""hub/activitypub/fast_inbox.py: POSTs to the inboxes are answered in front of Flask's request
machinery, other requests are not, and every answer is the one the Flask views give."""

import io
import json

import pytest
from databases import unreachable_postgresql_url
from fakepeer import HUB
from flask import Flask, request
from werkzeug.test import Client, TestResponse

from hub import create_app
from hub.extensions import db
from hub.models import DomainState, InboxItem


@pytest.fixture
def alice(peer):
    return peer.add_actor("alice")


@pytest.fixture
def flask_requests(app):
    """The paths of the requests that went through Flask's request machinery (its before hooks)."""
    seen = []
    app.before_request(lambda: seen.append(request.path))
    return seen


@pytest.fixture
def flask_only(app):
    """A client of the Flask app alone, without the fast path in front (the reference answers)."""
    return Client(lambda environ, start_response: Flask.wsgi_app(app, environ, start_response), TestResponse)


def same_answer(fast, reference) -> None:
    """Status, body and headers equal (the order of headers aside)."""
    assert fast.status == reference.status
    assert fast.data == reference.data
    assert sorted(fast.headers.items()) == sorted(reference.headers.items())


@pytest.mark.parametrize("path", ["/inbox", "/actor/inbox", "/actors/lao_cso/inbox"])
def test_inbox_posts_take_the_fast_path(client, org, alice, flask_requests, path):
    follow = alice.activity("Follow", org.uri)
    response = alice.post_to(client, path, follow)
    assert response.status_code == 202 and response.data == b"{}"
    assert flask_requests == []  # answered before Flask
    assert db.session.scalar(db.select(InboxItem.activity_uri)) == follow["id"]


def test_other_requests_go_through_flask(client, org, alice, flask_requests):
    answers = {"GET /inbox": client.get("/inbox"), "GET /actors/lao_cso": client.get("/actors/lao_cso"),
               "POST /inbox/": alice.post_to(client, "/inbox/", alice.activity("Follow", org.uri)),
               "POST /actors/nobody/inbox": alice.post_to(client, "/actors/nobody/inbox",
                                                          alice.activity("Follow", org.uri))}
    assert flask_requests == ["/inbox", "/actors/lao_cso", "/inbox/", "/actors/nobody/inbox"]
    assert answers["GET /inbox"].status_code == 405 and answers["GET /inbox"].headers["Allow"] == "POST"
    assert answers["POST /actors/nobody/inbox"].status_code == 404


def test_accepted_answers_match_the_flask_view(client, flask_only, org, alice, flask_requests):
    fast = alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    assert fast.status_code == 202 and flask_requests == []
    reference = alice.post_to(flask_only, "/inbox", alice.activity("Follow", org.uri))
    assert flask_requests == ["/inbox"]  # the reference client does reach the Flask view
    same_answer(fast, reference)
    replay = alice.activity("Like", f"{org.uri}/posts/1")
    same_answer(alice.post_to(client, "/inbox", replay), alice.post_to(flask_only, "/inbox", replay))
    assert db.session.query(InboxItem).count() == 3


def _unsigned(alice, org) -> dict:
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    return {"data": body, "headers": {"Content-Type": "application/activity+json"}}


def _bad_digest(alice, org) -> dict:
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    return {"data": body + b" ", "headers": alice.sign_headers(HUB + "/inbox", body)}


def _too_large(alice, org) -> dict:
    body = json.dumps(alice.activity("Create", {"type": "Note", "content": "x" * 1_100_000})).encode()
    return {"data": body, "headers": alice.sign_headers(HUB + "/inbox", body)}


def _not_json(alice, org) -> dict:
    return {"data": b"not json", "headers": alice.sign_headers(HUB + "/inbox", b"not json")}


def _plain_text(alice, org) -> dict:
    body = json.dumps(alice.activity("Follow", org.uri)).encode()
    headers = {**alice.sign_headers(HUB + "/inbox", body), "Content-Type": "text/plain"}
    return {"data": body, "headers": headers}


@pytest.mark.parametrize(("make", "status"), [(_unsigned, 401), (_bad_digest, 401), (_too_large, 413),
                                              (_not_json, 400), (_plain_text, 415)])
def test_refusals_match_the_flask_view(client, flask_only, org, alice, flask_requests, make, status):
    sent = make(alice, org)
    fast = client.post("/inbox", base_url=HUB, **sent)
    assert fast.status_code == status and flask_requests == []
    same_answer(fast, flask_only.post("/inbox", base_url=HUB, **sent))
    assert db.session.query(InboxItem).count() == 0


def test_a_blocked_server_gets_the_same_403(client, flask_only, org, alice):
    db.session.add(DomainState(domain=alice.peer.netloc, blocked=True))
    db.session.commit()
    fast = alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    assert fast.status_code == 403 and json.loads(fast.data)["reason"]
    same_answer(fast, alice.post_to(flask_only, "/inbox", alice.activity("Follow", org.uri)))


def test_a_flooding_server_gets_the_same_429_with_retry_after(client, flask_only, app, org, alice):
    app.config["HUB_INBOX_MAX_QUEUED_PER_DOMAIN"] = 0
    fast = alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    assert fast.status_code == 429 and fast.headers["Retry-After"] == "120"
    same_answer(fast, alice.post_to(flask_only, "/inbox", alice.activity("Follow", org.uri)))


def test_an_unknown_actors_inbox_is_flasks_404(client, flask_only, org, alice, flask_requests):
    follow = alice.activity("Follow", org.uri)
    fast = alice.post_to(client, "/actors/nobody/inbox", follow)
    assert fast.status_code == 404 and flask_requests == ["/actors/nobody/inbox"]
    same_answer(fast, alice.post_to(flask_only, "/actors/nobody/inbox", follow))


def test_a_chunked_body_over_the_limit_is_413(client, org, alice, flask_requests):
    body = json.dumps(alice.activity("Create", {"type": "Note", "content": "x" * 1_100_000})).encode()
    headers = {**alice.sign_headers(HUB + "/inbox", body), "Transfer-Encoding": "chunked"}
    response = client.post("/inbox", base_url=HUB, input_stream=io.BytesIO(body), headers=headers,
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and flask_requests == []
    assert db.session.query(InboxItem).count() == 0


def test_an_unexpected_error_gets_flasks_500_or_is_raised_in_tests(client, flask_only, app, org, alice):
    app.config["HUB_INBOX_MAX_QUEUED_PER_DOMAIN"] = "three"  # a misconfiguration: a TypeError inside
    with pytest.raises(TypeError):
        alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    fast = alice.post_to(client, "/inbox", alice.activity("Follow", org.uri))
    assert fast.status_code == 500
    same_answer(fast, alice.post_to(flask_only, "/inbox", alice.activity("Follow", org.uri)))


def test_behind_a_trusted_proxy_the_signed_host_is_the_forwarded_one(client, app, org, alice):
    proxied = create_app({**app.config, "HUB_TRUST_PROXY": 1})
    seen = []
    proxied.before_request(lambda: seen.append(request.path))
    follow = alice.activity("Follow", org.uri)
    body = json.dumps(follow).encode()
    headers = {**alice.sign_headers(HUB + "/inbox", body), "Host": "127.0.0.1:8000",
               "X-Forwarded-Host": "hub.test", "X-Forwarded-Proto": "https"}
    direct = client.post("/inbox", data=body, headers=headers, base_url="http://127.0.0.1:8000")
    assert direct.status_code == 401  # the proxy's headers count only when it is trusted
    response = proxied.test_client().post("/inbox", data=body, headers=headers, base_url="http://127.0.0.1:8000")
    assert response.status_code == 202 and seen == []
    db.session.rollback()
    assert db.session.scalar(db.select(InboxItem.activity_uri)) == follow["id"]


def test_while_the_database_cannot_be_reached_a_peer_gets_503_and_retry_after(app, org, alice, caplog):
    down = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": unreachable_postgresql_url()})
    for path in ("/inbox", f"/actors/{org.handle}/inbox"):
        response = alice.post_to(down.test_client(), path, alice.activity("Follow", org.uri))
        assert response.status_code == 503 and response.headers["Retry-After"] == "30"
        assert "send it again later" in json.loads(response.data)["reason"]
    assert "Connection refused" in caplog.text and "Traceback" not in caplog.text
    assert {record.levelname for record in caplog.records} == {"WARNING"}
    assert len(caplog.records) == 1  # one line for the two refused, not one a POST
