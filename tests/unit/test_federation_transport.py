"""federation.transport and federation.addresses against real HTTP servers on 127.0.0.x: address
vetting, pinning to the vetted address, redirects, deadlines, size caps, content types, id rules,
signed GETs and POSTs, and TLS with the host name checked."""

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from quiet_http import QuietHTTPServer

from federation import addresses, signatures, transport
from federation.addresses import AddressPolicy
from federation.errors import (
    BadContentType,
    FederationError,
    FetchError,
    HTTPStatusError,
    IdMismatch,
    Timeout,
    TooLarge,
    Unresolvable,
    UnsafeAddress,
)

LOOPBACK = AddressPolicy(["127.0.0.0/8"])
AS_JSON = "application/activity+json"


class Peer:
    """A threaded HTTP server on one loopback address; routes map a path to a handler function."""

    def __init__(self, ip: str, context: ssl.SSLContext | None = None):
        self.routes: dict = {}
        self.received: list[dict] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                peer.received.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers.items()), "body": body})
                route = peer.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = QuietHTTPServer((ip, 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.ip, self.port = ip, self.server.server_port
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def url(self, path: str, host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.ip}:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peers():
    started = []

    def start(ip: str = "127.0.0.2", context=None) -> Peer:
        peer = Peer(ip, context)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def reply(status=200, body=b"", content_type=AS_JSON, headers=None, length=True):
    def handler(req):
        req.send_response(status)
        if content_type:
            req.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        if length:
            req.send_header("Content-Length", str(len(body)))
        else:
            req.send_header("Connection", "close")
            req.close_connection = True
        req.end_headers()
        req.wfile.write(body)
    return handler


def document(peer, path, **extra):
    """Serve an ActivityStreams document at path whose id is its own URL."""
    body = json.dumps({"id": peer.url(path), "type": "Note", **extra}).encode()
    peer.routes[path] = reply(body=body)
    return peer.url(path)


# -- AddressPolicy -----------------------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1", "::", "::1", "[::1]",
    "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
    "64:ff9b::7f00:1", "2002:7f00:1::1", "::127.0.0.1", "2001:db8::1",
    "2130706433", "127.1", "0x7f.1", "0x7f000001", "017700000001", "10.1", "0177.0.0.1", "localhost",
])
def test_policy_refuses_private_and_odd_addresses(host):
    with pytest.raises(UnsafeAddress):
        AddressPolicy().vet(host, 443)


def test_odd_notation_of_a_public_address_is_refused_too():
    with pytest.raises(UnsafeAddress, match="odd notation"):
        AddressPolicy().vet("134744072", 443)  # 8.8.8.8 spelt as one number


@pytest.mark.parametrize(("host", "expected"), [
    ("93.184.216.34", ["93.184.216.34"]), ("2606:4700::1111", ["2606:4700::1111"]),
    ("[2606:4700::1111]", ["2606:4700::1111"]), ("::ffff:93.184.216.34", ["::ffff:5db8:d822"]),
])
def test_policy_accepts_public_literals_without_dns(host, expected):
    assert AddressPolicy().vet(host, 443) == expected


def test_allowed_networks_open_exactly_those_addresses():
    policy = AddressPolicy(["127.0.0.0/8", " ", "fd00::/8"])
    assert policy.vet("127.0.0.2", 80) == ["127.0.0.2"]
    assert policy.vet("127.1", 80) == ["127.0.0.1"]
    assert policy.vet("::ffff:127.0.0.3", 80) == ["::ffff:7f00:3"]
    assert policy.vet("fd00::5", 80) == ["fd00::5"]
    for host in ("10.0.0.1", "169.254.169.254", "::1", "0.0.0.0"):
        with pytest.raises(UnsafeAddress):
            policy.vet(host, 80)


def test_verdicts_kept_per_address_stay_right_and_bounded(monkeypatch):
    policy = AddressPolicy(["127.0.0.0/8"])
    judged = []
    judge = policy._judge
    monkeypatch.setattr(policy, "_judge", lambda ip: judged.append(ip) or judge(ip))
    asked = [("127.2.0.1", True), ("10.0.0.1", False), ("8.8.8.8", True), ("::ffff:10.0.0.1", False)]
    for _ in range(3):  # the second and third rounds are answered from what was kept
        for text, public_or_allowed in asked:
            assert policy.allows(ipaddress.ip_address(text)) is public_or_allowed
    assert len(judged) == len(asked)
    monkeypatch.setattr(addresses, "MAX_VERDICTS", 3)
    small = AddressPolicy(["127.0.0.0/8"])
    for text, public_or_allowed in asked:  # more addresses than may be kept: still right, bounded
        assert small.allows(ipaddress.ip_address(text)) is public_or_allowed
    assert len(small._verdicts) <= 3


def test_a_name_resolving_to_any_refused_address_is_refused(monkeypatch):
    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(UnsafeAddress, match="10.0.0.7"):
        AddressPolicy().vet("mixed.example", 443)


def test_unresolvable_name(monkeypatch):
    def fake(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(Unresolvable):
        AddressPolicy().vet("nowhere.invalid", 443)
    assert issubclass(Unresolvable, FetchError) and issubclass(UnsafeAddress, FederationError)


# -- fetching ------------------------------------------------------------------------------------

def test_fetch_json_returns_the_document(peers):
    peer = peers()
    url = document(peer, "/notes/1", content="ສະບາຍດີ")
    assert transport.fetch_json(url, policy=LOOPBACK)["content"] == "ສະບາຍດີ"
    sent = peer.received[0]["headers"]
    assert sent["Accept"].startswith(AS_JSON)
    assert sent["Host"] == f"127.0.0.2:{peer.port}"
    assert "Signature" not in sent


def test_default_policy_refuses_loopback_and_nothing_is_sent(peers):
    peer = peers()
    url = document(peer, "/notes/1")
    with pytest.raises(UnsafeAddress):
        transport.fetch_json(url, policy=AddressPolicy())
    assert peer.received == []


def test_signed_get_verifies_with_verify_request(peers):
    peer = peers()
    url = document(peer, "/users/a")
    private_pem, public_pem = signatures.generate_key_pair()
    signer = signatures.Signer("http://hub.test/actor#main-key", private_pem)
    transport.fetch_json(url + "?page=1", policy=LOOPBACK, signer=signer, check_id=False)
    got = peer.received[0]
    params = signatures.verify_request("GET", "/users/a", "page=1", got["headers"], b"", public_pem)
    assert params["headers"] == ["(request-target)", "host", "date", "accept"]


def test_redirects_are_followed_re_signed_and_the_id_must_be_the_final_url(peers):
    first, second = peers("127.0.0.2"), peers("127.0.0.3")
    final = document(second, "/objects/9")
    first.routes["/old"] = reply(302, headers={"Location": final}, content_type=None)
    private_pem, public_pem = signatures.generate_key_pair()
    signer = signatures.Signer("http://hub.test/actor#main-key", private_pem)
    doc, url = transport.fetch_document(first.url("/old"), policy=LOOPBACK, signer=signer)
    assert url == final and doc["id"] == final
    hop = second.received[0]
    assert signatures.verify_request("GET", "/objects/9", "", hop["headers"], b"", public_pem)
    assert hop["headers"]["Host"] == f"127.0.0.3:{second.port}"


def test_a_document_claiming_the_url_before_the_redirect_is_refused(peers):
    peer = peers()
    peer.routes["/old"] = reply(301, headers={"Location": "/new"}, content_type=None)
    peer.routes["/new"] = reply(body=json.dumps({"id": peer.url("/old")}).encode())
    with pytest.raises(IdMismatch):
        transport.fetch_json(peer.url("/old"), policy=LOOPBACK)


def test_redirect_to_a_private_address_is_refused_without_a_request(peers):
    public_ish, private = peers("127.0.0.2"), peers("127.0.0.3")
    document(private, "/secret")
    public_ish.routes["/x"] = reply(302, headers={"Location": private.url("/secret")}, content_type=None)
    with pytest.raises(UnsafeAddress):
        transport.fetch_json(public_ish.url("/x"), policy=AddressPolicy(["127.0.0.2/32"]))
    assert private.received == []


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://2130706433/",
                                      "http://[::1]/", "file:///etc/passwd", "gopher://x/"])
def test_redirects_to_metadata_and_odd_targets(peers, location):
    peer = peers()
    peer.routes["/x"] = reply(302, headers={"Location": location}, content_type=None)
    with pytest.raises(FetchError):
        transport.fetch_json(peer.url("/x"), policy=AddressPolicy(["127.0.0.2/32"]))


def test_too_many_redirects(peers):
    peer = peers()
    for n in range(5):
        peer.routes[f"/r{n}"] = reply(302, headers={"Location": f"/r{n + 1}"}, content_type=None)
    document(peer, "/r5")
    with pytest.raises(FetchError, match="redirects"):
        transport.fetch_json(peer.url("/r0"), policy=LOOPBACK, max_redirects=3)
    assert len(peer.received) == 4
    assert transport.fetch_json(peer.url("/r2"), policy=LOOPBACK, max_redirects=3)["id"].endswith("/r5")


def test_slow_drip_body_is_cut_at_the_total_deadline(peers):
    peer = peers()

    def drip(req):
        req.send_response(200)
        req.send_header("Content-Type", AS_JSON)
        req.send_header("Content-Length", "1000")
        req.end_headers()
        for _ in range(1000):
            req.wfile.write(b" ")
            req.wfile.flush()
            time.sleep(0.05)
    peer.routes["/slow"] = drip
    started = time.monotonic()
    with pytest.raises(Timeout):
        transport.fetch_json(peer.url("/slow"), policy=LOOPBACK, deadline=1.0)
    assert time.monotonic() - started < 3


def test_slow_drip_headers_are_cut_at_the_total_deadline(peers):
    peer = peers()

    def drip(req):
        req.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(200):
            req.wfile.write(f"X-Drip-{n}: x\r\n".encode())
            req.wfile.flush()
            time.sleep(0.05)
    peer.routes["/slow"] = drip
    started = time.monotonic()
    with pytest.raises(Timeout):
        transport.fetch_json(peer.url("/slow"), policy=LOOPBACK, deadline=1.0)
    assert time.monotonic() - started < 3


def test_a_server_that_never_answers(peers):
    peer = peers()
    peer.routes["/silent"] = lambda req: time.sleep(5)
    started = time.monotonic()
    with pytest.raises(Timeout):
        transport.fetch_json(peer.url("/silent"), policy=LOOPBACK, deadline=0.5)
    assert time.monotonic() - started < 2


def test_oversize_body_without_content_length(peers):
    peer = peers()

    def endless(req):
        req.send_response(200)
        req.send_header("Content-Type", AS_JSON)
        req.send_header("Connection", "close")
        req.end_headers()
        req.wfile.write(b'{"id": "x", "pad": "')
        for _ in range(64):
            req.wfile.write(b"x" * 65536)
    peer.routes["/big"] = endless
    with pytest.raises(TooLarge):
        transport.fetch_json(peer.url("/big"), policy=LOOPBACK, max_bytes=1_000_000)


def test_oversize_content_length_is_refused_before_reading(peers):
    peer = peers()
    peer.routes["/big"] = reply(body=b"{}" * 600_000)
    with pytest.raises(TooLarge):
        transport.fetch_json(peer.url("/big"), policy=LOOPBACK)


def test_gzip_is_decoded_but_a_gzip_bomb_is_capped(peers):
    peer = peers()
    small = gzip.compress(json.dumps({"id": peer.url("/z")}).encode())
    peer.routes["/z"] = reply(body=small, headers={"Content-Encoding": "gzip"})
    assert transport.fetch_json(peer.url("/z"), policy=LOOPBACK)["id"] == peer.url("/z")
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")
    peer.routes["/bomb"] = reply(body=bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(TooLarge):
        transport.fetch_json(peer.url("/bomb"), policy=LOOPBACK)
    peer.routes["/br"] = reply(body=b"??", headers={"Content-Encoding": "br"})
    with pytest.raises(BadContentType):
        transport.fetch_json(peer.url("/br"), policy=LOOPBACK)


@pytest.mark.parametrize("content_type", ["application/json", "text/html", "image/png", None,
                                          "application/jrd+json"])
def test_wrong_content_type(peers, content_type):
    peer = peers()
    peer.routes["/x"] = reply(body=json.dumps({"id": peer.url("/x")}).encode(), content_type=content_type)
    with pytest.raises(BadContentType):
        transport.fetch_json(peer.url("/x"), policy=LOOPBACK)


def test_ld_json_with_profile_is_accepted(peers):
    peer = peers()
    body = json.dumps({"id": peer.url("/x")}).encode()
    peer.routes["/x"] = reply(body=body, content_type='application/ld+json; profile="https://www.w3.org/ns/activitystreams"')
    assert transport.fetch_json(peer.url("/x"), policy=LOOPBACK)


@pytest.mark.parametrize("claimed", [None, "http://evil.example/notes/1", "/notes/1", 42,
                                     "http://127.0.0.2:1/notes/1"])
def test_id_mismatch(peers, claimed):
    peer = peers()
    doc = {"type": "Note"} if claimed is None else {"id": claimed, "type": "Note"}
    peer.routes["/notes/1"] = reply(body=json.dumps(doc).encode())
    with pytest.raises(IdMismatch):
        transport.fetch_json(peer.url("/notes/1"), policy=LOOPBACK)


def test_id_comparison_uses_normalised_hosts_and_drops_the_fragment(peers):
    peer = peers()
    peer.routes["/users/a"] = reply(body=json.dumps({"id": peer.url("/users/a").upper().replace(
        "/USERS/A", "/users/a")}).encode())
    assert transport.fetch_json(peer.url("/users/a#main-key"), policy=LOOPBACK)


@pytest.mark.parametrize("status", [404, 410, 500, 401])
def test_http_status_errors_carry_the_status(peers, status):
    peer = peers()
    peer.routes["/gone"] = reply(status, body=b"{}")
    with pytest.raises(HTTPStatusError) as info:
        transport.fetch_json(peer.url("/gone"), policy=LOOPBACK)
    assert info.value.status == status


def test_malformed_json_is_a_fetch_error(peers):
    peer = peers()
    peer.routes["/deep"] = reply(body=b"[" * 5000 + b"]" * 5000)
    with pytest.raises(FetchError, match="malformed"):
        transport.fetch_json(peer.url("/deep"), policy=LOOPBACK)


def test_refused_connection(peers):
    peer = peers()
    port = peer.port
    peer.stop()
    with pytest.raises(FetchError):
        transport.fetch_json(f"http://127.0.0.2:{port}/x", policy=LOOPBACK, deadline=2)


def test_not_http_urls_are_refused():
    for url in ("ftp://a.example/x", "file:///etc/passwd", "javascript:alert(1)", "/relative", None):
        with pytest.raises(FetchError):
            transport.fetch_json(url, policy=LOOPBACK)


def test_fetch_jrd(peers):
    peer = peers()
    jrd = {"subject": "acct:a@b", "links": []}
    peer.routes["/.well-known/webfinger"] = reply(body=json.dumps(jrd).encode(),
                                                  content_type="application/jrd+json")
    assert transport.fetch_jrd(peer.url("/.well-known/webfinger?resource=acct:a@b"), LOOPBACK) == jrd
    peer.routes["/plain"] = reply(body=json.dumps(jrd).encode(), content_type="application/json")
    assert transport.fetch_jrd(peer.url("/plain"), LOOPBACK) == jrd
    peer.routes["/html"] = reply(body=b"<html>", content_type="text/html")
    with pytest.raises(BadContentType):
        transport.fetch_jrd(peer.url("/html"), LOOPBACK)


def test_fetch_key_follows_the_key_document_and_checks_the_owner_origin(peers):
    peer = peers()
    actor = peer.url("/users/a")
    key = {"id": peer.url("/users/a/main-key"), "owner": actor, "publicKeyPem": "PEM"}
    # GoToSocial's stub: served at the key URL, with the actor's id
    peer.routes["/users/a/main-key"] = reply(body=json.dumps({"id": actor, "publicKey": key}).encode())
    assert transport.fetch_key(key["id"], policy=LOOPBACK)[:2] == (actor, "PEM")
    # Mastodon: the actor document itself, with a fragment key id
    mkey = {"id": actor + "#main-key", "owner": actor, "publicKeyPem": "PEM2"}
    peer.routes["/users/a"] = reply(body=json.dumps({"id": actor, "publicKey": mkey}).encode())
    assert transport.fetch_key(actor + "#main-key", policy=LOOPBACK)[:2] == (actor, "PEM2")
    evil = dict(key, owner="http://victim.example/users/a")
    peer.routes["/users/a/main-key"] = reply(body=json.dumps({"id": actor, "publicKey": evil}).encode())
    with pytest.raises(IdMismatch):
        transport.fetch_key(key["id"], policy=LOOPBACK)
    peer.routes["/users/a"] = reply(body=json.dumps({"id": actor, "publicKey": key}).encode())
    with pytest.raises(IdMismatch):
        transport.fetch_key(actor + "#other-key", policy=LOOPBACK)


def test_post_activity_sends_a_verifiable_signed_post(peers):
    peer = peers()
    peer.routes["/inbox"] = reply(202, content_type=None, headers={"X-Seen": "1"})
    private_pem, public_pem = signatures.generate_key_pair()
    signer = signatures.Signer("http://hub.test/actors/cso#main-key", private_pem)
    body = json.dumps({"type": "Follow"}).encode()
    status, headers = transport.post_activity(peer.url("/inbox"), body, signer, LOOPBACK)
    assert status == 202 and headers["x-seen"] == "1"
    got = peer.received[0]
    assert got["body"] == body
    assert signatures.verify_request("POST", "/inbox", "", got["headers"], got["body"], public_pem)


def test_post_activity_does_not_follow_redirects(peers):
    peer = peers()
    peer.routes["/inbox"] = reply(307, headers={"Location": "/elsewhere"}, content_type=None)
    signer = signatures.Signer("k", signatures.generate_key_pair()[0])
    assert transport.post_activity(peer.url("/inbox"), b"{}", signer, LOOPBACK)[0] == 307
    assert len(peer.received) == 1


# -- resolving once, pinning, TLS -------------------------------------------------------------

@pytest.fixture
def fake_dns(monkeypatch):
    """peer.test resolves to 127.0.0.2 the first time and to 127.0.0.3 after (a rebinding attack)."""
    real = socket.getaddrinfo
    lookups = []

    def fake(host, port, *args, **kwargs):
        if host in ("peer.test", "other.test"):
            lookups.append(host)
            ip = "127.0.0.2" if len(lookups) == 1 else "127.0.0.3"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lookups


def test_connects_to_the_vetted_address_without_a_second_lookup(peers, fake_dns):
    good, rebound = peers("127.0.0.2"), peers("127.0.0.3")
    good.routes["/n"] = reply(body=json.dumps({"id": good.url("/n", host="peer.test")}).encode())
    doc = transport.fetch_json(good.url("/n", host="peer.test"), policy=LOOPBACK)
    assert doc["id"] == good.url("/n", host="peer.test")
    assert fake_dns == ["peer.test"]
    assert good.received[0]["headers"]["Host"] == f"peer.test:{good.port}"
    assert rebound.received == []


def _tls(tmp_path, name: str):
    """A CA file and a server context whose certificate is for `name` only."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return str(tmp_path / "ca.pem"), context


def test_https_checks_the_certificate_for_the_host_name_not_the_address(peers, fake_dns, tmp_path):
    ca, context = _tls(tmp_path, "peer.test")
    peer = peers("127.0.0.2", context)
    url = peer.url("/n", host="peer.test", scheme="https")
    peer.routes["/n"] = reply(body=json.dumps({"id": url}).encode())
    assert transport.fetch_json(url, policy=LOOPBACK, verify=ca)["id"] == url
    with pytest.raises(FetchError):  # not trusted without the CA
        transport.fetch_json(url, policy=LOOPBACK)
    fake_dns.clear()
    with pytest.raises(FetchError):  # the certificate is not for other.test
        transport.fetch_json(peer.url("/n", host="other.test", scheme="https"), policy=LOOPBACK, verify=ca)
