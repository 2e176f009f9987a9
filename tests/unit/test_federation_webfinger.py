"""federation.webfinger: handles, query URLs, lookups against a loopback server, our JRD and host-meta."""

import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
from quiet_http import QuietHTTPServer

from federation import signatures
from federation.addresses import AddressPolicy
from federation.errors import BadContentType, FetchError, HTTPStatusError, UnsafeAddress
from federation.webfinger import (
    WebFingerError,
    build_host_meta,
    build_jrd,
    lookup,
    parse_account,
    self_link,
    webfinger_url,
)

LOOPBACK = AddressPolicy(["127.0.0.0/8"])


@pytest.mark.parametrize("text", ["@ana@masto.example", "ana@masto.example", "acct:ana@masto.example",
                                  " ACCT:ana@Masto.Example. ", "@ana@masto.example:443"])
def test_parse_account(text):
    assert parse_account(text) in (("ana", "masto.example"), ("ana", "masto.example:443"))


def test_parse_account_keeps_ports_and_converts_idn():
    assert parse_account("cso@127.0.0.2:8080") == ("cso", "127.0.0.2:8080")
    assert parse_account("cso@ສູນ.example")[1].startswith("xn--")


@pytest.mark.parametrize("text", ["ana", "@ana", "ana@", "@@masto.example", "a@b@c", "ana@host/path",
                                  "https://masto.example/@ana", "an a@masto.example", "ana@ho st", None, "",
                                  "a<b@masto.example"])
def test_parse_account_rejects(text):
    with pytest.raises(ValueError):
        parse_account(text)


def test_webfinger_url():
    assert webfinger_url("Masto.Example", "acct:ana@masto.example") == \
        "https://masto.example/.well-known/webfinger?resource=acct:ana@masto.example"
    url = webfinger_url("127.0.0.2:8080", "acct:a b&c@x", scheme="http")
    assert url.startswith("http://127.0.0.2:8080/.well-known/webfinger?resource=")
    assert parse_qs(urlsplit(url).query)["resource"] == ["acct:a b&c@x"]


def test_build_jrd_and_self_link():
    jrd = build_jrd("acct:cso@hub.example", ["https://hub.example/@cso", "https://hub.example/actors/cso"],
                    "https://hub.example/actors/cso", "https://hub.example/@cso",
                    "https://hub.example/authorize_interaction?uri={uri}")
    assert jrd["subject"] == "acct:cso@hub.example"
    assert [link["rel"] for link in jrd["links"]] == [
        "self", "http://webfinger.net/rel/profile-page", "http://ostatus.org/schema/1.0/subscribe"]
    assert jrd["links"][0] == {"rel": "self", "type": "application/activity+json",
                               "href": "https://hub.example/actors/cso"}
    assert self_link(jrd) == "https://hub.example/actors/cso"
    assert [link["rel"] for link in build_jrd("acct:a@b", [], "https://b/a")["links"]] == ["self"]
    json.dumps(jrd)


def test_self_link_needs_an_activitystreams_type():
    assert self_link({"links": [{"rel": "self", "type": "text/html", "href": "https://x/a"}]}) is None
    assert self_link({"links": "nope"}) is None
    assert self_link({}) is None
    ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    assert self_link({"links": [{"rel": "self", "type": ld, "href": "https://x/a"}]}) == "https://x/a"


def test_host_meta_is_xrd_with_the_lrdd_template():
    root = ElementTree.fromstring(build_host_meta("https://hub.example/"))
    link = root.find("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    assert link.get("rel") == "lrdd"
    assert link.get("template") == "https://hub.example/.well-known/webfinger?resource={uri}"


# -- lookups against a server ----------------------------------------------------------------------

@pytest.fixture
def server():
    answers = {}
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append({"path": self.path, "headers": dict(self.headers.items())})
            resource = parse_qs(urlsplit(self.path).query).get("resource", [""])[0]
            status, content_type, body = answers.get(resource, (404, "text/plain", b""))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = QuietHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    host = f"127.0.0.2:{httpd.server_port}"
    yield host, answers, seen
    httpd.shutdown()
    httpd.server_close()


def jrd_answer(jrd, content_type="application/jrd+json; charset=utf-8"):
    return 200, content_type, json.dumps(jrd).encode()


def test_lookup_finds_the_actor(server):
    host, answers, seen = server
    actor = f"http://{host}/users/ana"
    answers[f"acct:ana@{host}"] = jrd_answer(build_jrd(f"acct:ana@{host}", [], actor))
    assert lookup(f"@ana@{host}", policy=LOOPBACK, scheme="http") == actor
    assert seen[0]["path"] == f"/.well-known/webfinger?resource=acct:ana@{host}"


def test_lookup_with_a_signer_signs_the_get(server):
    host, answers, seen = server
    answers[f"acct:ana@{host}"] = jrd_answer(build_jrd(f"acct:ana@{host}", [], f"http://{host}/u/ana"),
                                             content_type="application/json")
    private_pem, public_pem = signatures.generate_key_pair()
    signer = signatures.Signer("http://hub.test/actor#main-key", private_pem)
    lookup(f"ana@{host}", policy=LOOPBACK, scheme="http", signer=signer)
    path, _, query = seen[0]["path"].partition("?")
    assert signatures.verify_request("GET", path, query, seen[0]["headers"], b"", public_pem)


def test_lookup_failures(server):
    host, answers, _ = server
    with pytest.raises(HTTPStatusError) as info:
        lookup(f"nobody@{host}", policy=LOOPBACK, scheme="http")
    assert info.value.status == 404
    answers[f"acct:html@{host}"] = (200, "text/html", b"<html></html>")
    with pytest.raises(BadContentType):
        lookup(f"html@{host}", policy=LOOPBACK, scheme="http")
    answers[f"acct:nolink@{host}"] = jrd_answer({"subject": "x", "links": [
        {"rel": "http://webfinger.net/rel/profile-page", "href": "http://x/"}]})
    with pytest.raises(WebFingerError):
        lookup(f"nolink@{host}", policy=LOOPBACK, scheme="http")
    answers[f"acct:js@{host}"] = jrd_answer({"links": [{"rel": "self", "type": "application/activity+json",
                                                         "href": "javascript:alert(1)"}]})
    with pytest.raises(FetchError):
        lookup(f"js@{host}", policy=LOOPBACK, scheme="http")
    with pytest.raises(UnsafeAddress):
        lookup(f"ana@{host}", policy=AddressPolicy(), scheme="http")
