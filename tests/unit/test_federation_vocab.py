"""federation.vocab and federation.jsonld: addressing, media types, hosts and bounded JSON parsing."""

import json
import time

import pytest

from federation import vocab
from federation.errors import FederationError, MalformedDocument
from federation.jsonld import parse_json_limited


def test_public_and_its_aliases():
    assert vocab.is_public(["https://example.org/followers", vocab.PUBLIC])
    assert vocab.is_public("as:Public")
    assert vocab.is_public(["Public"])
    assert vocab.is_public([{"id": vocab.PUBLIC}])
    assert not vocab.is_public(["https://www.w3.org/ns/activitystreams#Publicx", None, 3])
    assert not vocab.is_public(None)


def test_as_list_and_get_id():
    assert vocab.as_list(None) == []
    assert vocab.as_list("a") == ["a"]
    assert vocab.as_list(("a", "b")) == ["a", "b"]
    assert vocab.as_list({"id": "x"}) == [{"id": "x"}]
    assert vocab.get_id("https://a.example/x") == "https://a.example/x"
    assert vocab.get_id({"id": "https://a.example/x", "type": "Note"}) == "https://a.example/x"
    assert vocab.get_id({"id": 5}) is None
    assert vocab.get_id({"type": "Note"}) is None
    assert vocab.get_id(None) is None
    assert vocab.get_id("") is None


@pytest.mark.parametrize("content_type", [
    "application/activity+json", "application/activity+json; charset=utf-8",
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"', "application/ld+json",
    "Application/Activity+JSON"])
def test_activity_json_media_types(content_type):
    assert vocab.is_activity_json(content_type)


@pytest.mark.parametrize("content_type", [
    None, "", "application/json", "text/html", "image/png", "application/jrd+json",
    "text/plain; x=application/activity+json"])
def test_not_activity_json(content_type):
    assert not vocab.is_activity_json(content_type)


@pytest.mark.parametrize(("given", "expected"), [
    ("Masto.Example.", "masto.example"),
    ("https://user:pw@Masto.Example:443/users/a", "masto.example"),
    ("http://masto.example:80/x", "masto.example"),
    ("https://masto.example:80/x", "masto.example:80"),
    ("http://127.0.0.2:8080/inbox", "127.0.0.2:8080"),
    ("https://BÜCHER.example", "xn--bcher-kva.example"),
    ("http://[::1]:8080/x", "[::1]:8080"),
    ("https://[2001:DB8::1]/x", "[2001:db8::1]"),
    ("masto.example:8443", "masto.example:8443"),
])
def test_normalise_host(given, expected):
    assert vocab.normalise_host(given) == expected


def test_lao_host_becomes_its_ascii_form():
    host = vocab.normalise_host("https://ເດັ່ນ.Example./x")
    assert host.startswith("xn--") and host.endswith(".example") and host.isascii()
    assert host.encode("ascii").decode("idna") == "ເດັ່ນ.example"


@pytest.mark.parametrize("bad", ["", "https:///x", "https://a..b/", "http://a.example:99999/",
                                 "http://a.example:x/", "a b.example", "https://[::1/x"])
def test_normalise_host_rejects_garbage(bad):
    with pytest.raises(ValueError):
        vocab.normalise_host(bad)


def test_host_of_and_origins():
    assert vocab.host_of("https://A.example./x") == "a.example"
    assert vocab.host_of("not a url") is None
    assert vocab.host_of(None) is None
    assert vocab.same_origin("https://a.example/users/x", "https://A.EXAMPLE.:443/notes/1")
    assert vocab.same_origin("https://evil@a.example/x", "https://a.example/y")
    assert not vocab.same_origin("https://a.example/x", "http://a.example/x")
    assert not vocab.same_origin("https://a.example/x", "https://a.example.evil.example/x")
    assert not vocab.same_origin("https://a.example/x", "https://a.example:8443/x")
    assert not vocab.same_origin("https://a.example/x", "/relative")
    assert vocab.same_host("https://a.example/x", "http://a.example:443/y") is False
    assert vocab.same_host("https://a.example/x", "https://a.example:443/y")


def test_mastodon_context_carries_the_terms_peers_need():
    assert vocab.MASTODON_CONTEXT[:2] == [vocab.AS_CONTEXT, vocab.SECURITY_CONTEXT]
    terms = vocab.MASTODON_CONTEXT[2]
    for term in ("toot", "schema", "PropertyValue", "value", "featured", "discoverable", "indexable",
                 "manuallyApprovesFollowers", "sensitive", "Hashtag", "blurhash", "focalPoint", "webfinger"):
        assert term in terms
    json.dumps(vocab.MASTODON_CONTEXT)


# -- parse_json_limited --------------------------------------------------------------------------

def test_parses_an_ordinary_document():
    raw = json.dumps({"id": "https://a.example/n/1", "content": "ສະບາຍດີ", "n": [1, 2.5, None, True]},
                     ensure_ascii=False).encode()
    assert parse_json_limited(raw)["content"] == "ສະບາຍດີ"
    assert parse_json_limited(b"\xef\xbb\xbf{}") == {}
    assert parse_json_limited('{"a": "[[[["}') == {"a": "[[[["}


def test_brackets_inside_strings_do_not_count_as_depth():
    raw = json.dumps({"a": "[" * 500 + "\\\"{" * 100}).encode()
    assert parse_json_limited(raw)["a"].startswith("[[[")


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[1, 2]", b'"string"', b"42", b"null", b"{\"a\": 1", b"{'a': 1}",
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e999}', b"\xff\xfe{}", b'{"a": 1} trailing',
    b'{"a": ' + b"9" * 101 + b"}", b'{"a": -' + b"9" * 101 + b"}", b'{"a": 0.' + b"1" * 200 + b"}",
])
def test_rejects_malformed(raw):
    with pytest.raises(MalformedDocument):
        parse_json_limited(raw)


def test_malformed_is_a_federation_error_and_a_value_error():
    with pytest.raises(FederationError):
        parse_json_limited(b"[]")
    with pytest.raises(ValueError):
        parse_json_limited(b"[]")


def test_size_cap():
    raw = json.dumps({"a": "x" * 2000}).encode()
    with pytest.raises(MalformedDocument, match="larger"):
        parse_json_limited(raw, max_bytes=1000)
    assert parse_json_limited(raw, max_bytes=len(raw))["a"]


def test_depth_limit_is_exact():
    assert parse_json_limited(b'{"a":' + b"[" * 63 + b"]" * 63 + b"}")
    with pytest.raises(MalformedDocument, match="deeper"):
        parse_json_limited(b'{"a":' + b"[" * 64 + b"]" * 64 + b"}")


def test_hundred_thousand_deep_nesting_is_refused_quickly():
    started = time.perf_counter()
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                b"[" * 999_999):
        with pytest.raises(MalformedDocument):
            parse_json_limited(raw)
    assert time.perf_counter() - started < 5  # a crash or a hang would be the failure, not speed


def test_hundred_digit_integer_is_still_accepted():
    assert parse_json_limited(b'{"a": ' + b"9" * 100 + b"}")["a"] == int("9" * 100)


def test_kept_hosts_stay_per_scheme_and_long_names_are_not_kept():
    for _ in range(2):  # the second round is answered from what was kept
        assert vocab.host_of("https://Peer.Example:443/users/a") == "peer.example"
        assert vocab.host_of("http://Peer.Example:443/users/a") == "peer.example:443"
        assert vocab.host_of("https://ລາວ.example/users/a") == "xn--q7ce6a.example"
    kept = vocab._canonical_host.cache_info().currsize
    long_host = "a" * 63 + "." + ".".join(["b" * 63] * 4) + ".example"
    assert len(long_host) > 300  # longer than the cache keeps
    assert vocab.host_of(f"https://{long_host}/x") == long_host
    assert vocab._canonical_host.cache_info().currsize == kept
    assert vocab.host_of("https://bad host.example/x") is None
