"""federation.signatures: draft-cavage sign/verify on cryptography, every rejection rule, and
cross-checks against the independent httpsig package both ways."""

import base64
import hashlib
import time
from email.utils import formatdate

import httpsig
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

from federation import signatures as sig
from federation.errors import FederationError, SignatureError

INBOX = "https://hub.example/actors/cso/inbox"
KEY_ID = "https://peer.example/users/alice#main-key"
BODY = b'{"type":"Create","actor":"https://peer.example/users/alice"}'


@pytest.fixture(scope="module")
def keys():
    return sig.generate_key_pair()


@pytest.fixture(scope="module")
def other_keys():
    return sig.generate_key_pair()


@pytest.fixture(scope="module")
def signer(keys):
    return sig.Signer(KEY_ID, sig.load_private_key(keys[0]))


def verify_post(headers, keys, body=BODY, path="/actors/cso/inbox", query="", **kw):
    return sig.verify_request("POST", path, query, headers, body, keys[1], **kw)


def rsa_sign(private_pem, text: str) -> str:
    key = sig.load_private_key(private_pem)
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def handmade(keys, names, values, algorithm="rsa-sha256", key_id=KEY_ID, extra=""):
    """A Signature header built by hand over the given pseudo/header values."""
    text = "\n".join(f"{n}: {values[n]}" for n in names)
    alg = f'algorithm="{algorithm}",' if algorithm else ""
    return (f'keyId="{key_id}",{alg}headers="{" ".join(names)}",{extra}'
            f'signature="{rsa_sign(keys[0], text)}"')


# -- keys --------------------------------------------------------------------------------------

def test_key_pair_is_rsa_2048_pkcs8_and_spki(keys):
    private_pem, public_pem = keys
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert sig.load_private_key(private_pem).key_size == 2048
    assert sig.load_public_key(public_pem).key_size == 2048


def test_public_key_is_cached_and_bad_keys_are_signature_errors(keys):
    assert sig.load_public_key(keys[1]) is sig.load_public_key(keys[1])
    assert sig.load_public_key(keys[1].encode()) is sig.load_public_key(keys[1])
    with pytest.raises(SignatureError):
        sig.load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    ed_pem = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(SignatureError, match="RSA"):
        sig.load_public_key(ed_pem)


def test_pkcs1_public_key_is_accepted(keys):
    pkcs1 = sig.load_public_key(keys[1]).public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.PKCS1).decode()
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    headers = sig.sign_request("POST", INBOX, key_id=KEY_ID, private_key=keys[0], body=BODY)
    assert verify_post(headers, (keys[0], pkcs1))


def test_digest_header():
    assert sig.digest_header(b"") == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


# -- signing -----------------------------------------------------------------------------------

def test_post_headers_and_signed_names(signer):
    headers = signer.sign("POST", INBOX, BODY)
    assert headers["Host"] == "hub.example"
    assert headers["Digest"] == sig.digest_header(BODY)
    assert headers["Content-Type"] == "application/activity+json"
    assert headers["Date"].endswith(" GMT")
    params = sig.parse_signature_header(headers["Signature"])
    assert params["keyId"] == KEY_ID
    assert params["algorithm"] == "rsa-sha256"
    assert params["headers"] == ["(request-target)", "host", "date", "digest", "content-type"]
    assert 'algorithm="rsa-sha256"' in headers["Signature"]


def test_get_signs_accept_only_when_given(signer):
    with_accept = signer.sign("GET", "https://peer.example/users/alice?x=1",
                              headers={"Accept": "application/activity+json"})
    assert "Digest" not in with_accept and "Content-Type" not in with_accept
    assert with_accept["Accept"] == "application/activity+json"
    assert sig.parse_signature_header(with_accept["Signature"])["headers"] == [
        "(request-target)", "host", "date", "accept"]
    plain = signer.sign("GET", "https://peer.example/users/alice")
    assert sig.parse_signature_header(plain["Signature"])["headers"] == ["(request-target)", "host", "date"]


def test_host_keeps_a_non_default_port(signer):
    assert signer.sign("POST", "http://127.0.0.2:8080/inbox", b"{}")["Host"] == "127.0.0.2:8080"
    assert signer.sign("POST", "https://Peer.Example:443/inbox", b"{}")["Host"] == "peer.example"


def test_caller_content_type_is_kept_and_signed(keys):
    headers = sig.sign_request("POST", INBOX, key_id=KEY_ID, private_key=keys[0], body=BODY,
                               headers={"content-type": 'application/ld+json; profile="x"'})
    assert headers["content-type"] == 'application/ld+json; profile="x"'
    assert "Content-Type" not in headers
    assert verify_post(headers, keys)


# -- round trips -------------------------------------------------------------------------------

def test_post_round_trip(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    params = verify_post(headers, keys)
    assert params["keyId"] == KEY_ID


def test_get_round_trip_with_query(signer, keys):
    headers = signer.sign("GET", "https://hub.example/users/a?page=2", headers={"Accept": "x"})
    assert sig.verify_request("GET", "/users/a", "page=2", headers, b"", keys[1])


def test_headers_may_be_any_case_and_a_list_of_pairs(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    assert verify_post({k.upper(): v for k, v in headers.items()}, keys)
    assert verify_post(list(headers.items()), keys)


def test_parsed_once_the_signature_verifies_with_its_own_params_only(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    params = sig.signature_params(headers)
    assert params["keyId"] == KEY_ID
    assert verify_post(headers, keys, params=params) == verify_post(headers, keys)
    other = sig.signature_params(signer.sign("POST", INBOX, BODY + b" "))
    with pytest.raises(SignatureError):  # the params really are what gets verified
        verify_post(headers, keys, params=other)


def test_key_id_of(signer):
    assert sig.key_id_of({"signature": signer.sign("POST", INBOX, BODY)["Signature"]}) == KEY_ID
    with pytest.raises(SignatureError, match="not signed"):
        sig.key_id_of({"date": "x"})


# -- rejections --------------------------------------------------------------------------------

def test_wrong_key_is_rejected(signer, keys, other_keys):
    with pytest.raises(SignatureError, match="does not verify"):
        verify_post(signer.sign("POST", INBOX, BODY), other_keys)


def test_body_changed_after_signing(signer, keys):
    with pytest.raises(SignatureError, match="Digest does not match"):
        verify_post(signer.sign("POST", INBOX, BODY), keys, body=BODY + b" ")


def test_digest_header_replaced_to_match_a_new_body(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    headers["Digest"] = sig.digest_header(b"{}")
    with pytest.raises(SignatureError, match="does not verify"):
        verify_post(headers, keys, body=b"{}")


def test_path_changed(signer, keys):
    with pytest.raises(SignatureError, match="does not verify"):
        verify_post(signer.sign("POST", INBOX, BODY), keys, path="/actors/other/inbox")


def test_signed_header_altered(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    headers["Host"] = "evil.example"
    with pytest.raises(SignatureError):
        verify_post(headers, keys)


@pytest.mark.parametrize("offset", [-3700, 3700])
def test_stale_or_future_date(keys, offset):
    now = time.time()
    headers = sig.sign_request("POST", INBOX, key_id=KEY_ID, private_key=keys[0], body=BODY, now=now + offset)
    with pytest.raises(SignatureError, match="window"):
        verify_post(headers, keys, now=now)


@pytest.mark.parametrize("offset", [-3500, 3500])
def test_date_within_an_hour_is_accepted(keys, offset):
    now = time.time()
    headers = sig.sign_request("POST", INBOX, key_id=KEY_ID, private_key=keys[0], body=BODY, now=now + offset)
    assert verify_post(headers, keys, now=now)


def test_unreadable_date(keys):
    values = {"(request-target)": "post /actors/cso/inbox", "host": "hub.example", "date": "yesterday",
              "digest": sig.digest_header(BODY)}
    headers = {"Host": "hub.example", "Date": "yesterday", "Digest": values["digest"],
               "Signature": handmade(keys, list(values), values)}
    with pytest.raises(SignatureError, match="Date"):
        verify_post(headers, keys)


def post_values(date=None):
    return {"(request-target)": "post /actors/cso/inbox", "host": "hub.example",
            "date": date or formatdate(usegmt=True), "digest": sig.digest_header(BODY)}


def as_headers(values, signature):
    headers = {k: v for k, v in values.items() if not k.startswith("(")}
    headers["signature"] = signature
    return headers


@pytest.mark.parametrize(("names", "message"), [
    (["(request-target)", "host", "digest"], "neither date nor"),
    (["host", "date"], "neither \\(request-target\\) nor digest"),
    (["(request-target)", "host", "date"], "digest is not signed"),
    (["(request-target)", "host", "date", "digest", "digest"], "signed twice"),
])
def test_post_missing_required_signed_headers(keys, names, message):
    values = post_values()
    with pytest.raises(SignatureError, match=message):
        verify_post(as_headers(values, handmade(keys, names, values)), keys)


def test_post_digest_alone_is_enough_for_the_target_rule(keys):
    values = post_values()
    assert verify_post(as_headers(values, handmade(keys, ["host", "date", "digest"], values)), keys)


def test_get_must_sign_host(keys):
    values = {"(request-target)": "get /users/a", "date": formatdate(usegmt=True)}
    with pytest.raises(SignatureError, match="host is not signed"):
        sig.verify_request("GET", "/users/a", "", as_headers(values, handmade(keys, list(values), values)),
                           b"", keys[1])


def test_missing_digest_header(keys):
    values = post_values()
    headers = as_headers(values, handmade(keys, list(values), values))
    del headers["digest"]
    with pytest.raises(SignatureError):
        verify_post(headers, keys)


@pytest.mark.parametrize("digest", [
    lambda b: "sha-256=" + base64.b64encode(hashlib.sha256(b).digest()).decode(),
    lambda b: ("SHA-512=" + base64.b64encode(hashlib.sha512(b).digest()).decode()
               + ",SHA-256=" + base64.b64encode(hashlib.sha256(b).digest()).decode()),
    lambda b: "MD5=abc, SHA-256=" + base64.b64encode(hashlib.sha256(b).digest()).decode(),
])
def test_digest_spellings_peers_send(keys, digest):
    values = post_values()
    values["digest"] = digest(BODY)
    assert verify_post(as_headers(values, handmade(keys, list(values), values)), keys)


@pytest.mark.parametrize(("digest", "message"), [
    (lambda b: "SHA-512=" + base64.b64encode(hashlib.sha512(b).digest()).decode(), "no SHA-256"),
    (lambda b: "SHA-512=AAAA,SHA-256=" + base64.b64encode(hashlib.sha256(b).digest()).decode(), "not match"),
    (lambda b: "SHA-256=" + base64.b64encode(hashlib.sha1(b).digest()).decode(), "not match"),
])
def test_bad_digests(keys, digest, message):
    values = post_values()
    values["digest"] = digest(BODY)
    with pytest.raises(SignatureError, match=message):
        verify_post(as_headers(values, handmade(keys, list(values), values)), keys)


@pytest.mark.parametrize(("value", "message"), [
    ('keyId="a",keyId="b",signature="AAAA"', "duplicate"),
    ('keyId="a",signature="AAAA",Signature="AAAA"', "duplicate"),
    ('algorithm="rsa-sha256",signature="AAAA"', "keyId"),
    ('keyId="a",algorithm="rsa-sha256"', "without signature"),
    ('keyId="a",signature=""', "without signature"),
    ('keyId="a",algorithm="hmac-sha256",signature="AAAA"', "unsupported"),
    ('keyId="a",algorithm="ed25519",signature="AAAA"', "unsupported"),
    ('keyId="a",algorithm="rsa-sha512",signature="AAAA"', "unsupported"),
    ('keyId="a",signature="not base64!"', "base64"),
    ('keyId="a" signature="AAAA"', "malformed"),
    ('keyId="a",signature="AAAA",created="soon"', "created"),
    ("garbage", "malformed"),
    ("", "empty"),
    ('keyId="' + "a" * 9000 + '",signature="AAAA"', "too long"),
])
def test_parse_signature_header_rejections(value, message):
    with pytest.raises(SignatureError, match=message):
        sig.parse_signature_header(value)


def test_parse_signature_header_defaults_and_forms():
    params = sig.parse_signature_header(' keyId="k" , signature="AAAA" ')
    assert params["algorithm"] == "hs2019"
    assert params["headers"] == ["date"]
    value = ('keyId="k",algorithm="HS2019",created=1700000000,expires=1700000300.5,'
             'headers="(Request-Target) Host",signature="AAAA"')
    params = sig.parse_signature_header(value)
    assert params["algorithm"] == "hs2019"
    assert (params["created"], params["expires"]) == (1700000000, 1700000300)
    assert params["headers"] == ["(request-target)", "host"]
    assert sig.parse_signature_header('Signature keyId="k",signature="AAAA"')["keyId"] == "k"


def test_parse_signature_header_quoted_pairs():
    """A backslash takes the next character literally, a quote included (RFC 7230 quoted-pair)."""
    params = sig.parse_signature_header(r'keyId="a\"b\\c\d",signature="AAAA"')
    assert params["keyId"] == 'a"b\\cd'
    with pytest.raises(SignatureError, match="malformed"):
        sig.parse_signature_header(r'keyId="a\",signature="AAAA"')  # the quote is escaped: unterminated


def test_rfc9421_is_refused_with_a_signature_error(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    headers["Signature-Input"] = 'sig1=("@method" "@target-uri");keyid="k";created=1'
    with pytest.raises(SignatureError, match="9421"):
        verify_post(headers, keys)
    with pytest.raises(SignatureError, match="9421"):
        sig.key_id_of({"Signature-Input": "sig1=()", "Signature": "sig1=:AAAA:"})


def test_unsigned_request(keys):
    with pytest.raises(SignatureError, match="not signed"):
        verify_post({"Date": formatdate(usegmt=True)}, keys)


def test_signature_error_is_a_federation_error():
    assert issubclass(SignatureError, FederationError)


# -- query string, (created), (expires), Authorization ---------------------------------------------

def test_target_signed_without_the_query_still_verifies(keys):
    values = {"(request-target)": "get /users/a", "host": "hub.example", "date": formatdate(usegmt=True)}
    headers = as_headers(values, handmade(keys, list(values), values))
    assert sig.verify_request("GET", "/users/a", "foo=bar", headers, b"", keys[1])


def test_created_and_expires(keys):
    now = int(time.time())
    values = {"(request-target)": "post /actors/cso/inbox", "(created)": now, "(expires)": now + 300,
              "host": "hub.example", "digest": sig.digest_header(BODY)}
    header = handmade(keys, list(values), values, algorithm="hs2019",
                      extra=f"created={now},expires={now + 300},")
    headers = as_headers(values, header)
    assert verify_post(headers, keys, now=now)
    with pytest.raises(SignatureError, match="expired"):
        verify_post(headers, keys, now=now + 301)
    with pytest.raises(SignatureError, match="created"):
        verify_post(headers, keys, now=now - 3700)


def test_created_signed_without_parameter(keys):
    values = {"(request-target)": "post /actors/cso/inbox", "(created)": 1, "host": "hub.example",
              "digest": sig.digest_header(BODY)}
    with pytest.raises(SignatureError, match="created"):
        verify_post(as_headers(values, handmade(keys, list(values), values)), keys)


def test_signature_in_authorization_header(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    headers["Authorization"] = "Signature " + headers.pop("Signature")
    assert verify_post(headers, keys)


def test_gotosocial_style_hs2019(keys):
    key_id = "https://gts.example/users/alice/main-key"
    values = {"(request-target)": "post /actors/cso/inbox", "host": "hub.example",
              "date": formatdate(usegmt=True), "digest": sig.digest_header(BODY)}
    headers = as_headers(values, handmade(keys, list(values), values, algorithm="hs2019", key_id=key_id))
    assert sig.key_id_of(headers) == key_id
    assert verify_post(headers, keys)["algorithm"] == "hs2019"


def test_absent_algorithm_means_hs2019(keys):
    values = post_values()
    headers = as_headers(values, handmade(keys, list(values), values, algorithm=None))
    assert verify_post(headers, keys)["algorithm"] == "hs2019"


def test_bovine_style_lower_case_digest_header(keys):
    values = post_values()
    values["digest"] = "sha-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    headers = as_headers(values, handmade(keys, list(values), values))
    assert verify_post(headers, keys)


# -- httpsig as an independent oracle -----------------------------------------------------------

def test_our_post_signature_verifies_with_httpsig(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    verifier = httpsig.HeaderVerifier(headers, keys[1], method="POST", path="/actors/cso/inbox",
                                      sign_header="signature",
                                      required_headers=["(request-target)", "host", "date", "digest",
                                                        "content-type"])
    assert verifier.verify()


def test_our_get_signature_verifies_with_httpsig(signer, keys):
    headers = signer.sign("GET", "https://peer.example/users/alice?a=b",
                          headers={"Accept": "application/activity+json"})
    verifier = httpsig.HeaderVerifier(headers, keys[1], method="GET", path="/users/alice?a=b",
                                      sign_header="signature",
                                      required_headers=["(request-target)", "host", "date", "accept"])
    assert verifier.verify()


def test_httpsig_tampered_fails_there_too(signer, keys):
    headers = signer.sign("POST", INBOX, BODY)
    verifier = httpsig.HeaderVerifier(headers, keys[1], method="POST", path="/actors/cso/other",
                                      sign_header="signature")
    assert not verifier.verify()


def test_httpsig_signature_verifies_with_ours(keys):
    names = ["(request-target)", "host", "date", "digest"]
    signer = httpsig.HeaderSigner(KEY_ID, keys[0], algorithm="rsa-sha256", headers=names,
                                  sign_header="signature")
    headers = signer.sign({"Host": "hub.example", "Date": formatdate(usegmt=True),
                           "Digest": sig.digest_header(BODY)},
                          host="hub.example", method="POST", path="/actors/cso/inbox")
    params = verify_post(headers, keys)
    assert params["keyId"] == KEY_ID


def test_httpsig_get_signature_verifies_with_ours(keys):
    signer = httpsig.HeaderSigner(KEY_ID, keys[0], algorithm="rsa-sha256",
                                  headers=["(request-target)", "host", "date"], sign_header="signature")
    headers = signer.sign({"Host": "hub.example", "Date": formatdate(usegmt=True)},
                          method="GET", path="/users/a?page=1")
    assert sig.verify_request("GET", "/users/a", "page=1", headers, None, keys[1])
    headers["Date"] = formatdate(time.time() - 60, usegmt=True)
    with pytest.raises(SignatureError):
        sig.verify_request("GET", "/users/a", "page=1", headers, None, keys[1])
