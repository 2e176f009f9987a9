"""A fake fediverse server for federation tests: a real HTTP server on 127.0.0.x with its own RSA
keys, serving WebFinger, actors and notes, recording what arrives in its inboxes, and signing the
requests it sends to the hub (through the Flask test client) with federation.signatures."""

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from quiet_http import QuietHTTPServer

from federation import signatures

AS = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
HUB = "http://hub.test"
_KEYS: list[tuple[str, str]] = []


def key_pair() -> tuple[str, str]:
    """An RSA key pair; a few are generated once per test run and reused (generation is slow)."""
    if len(_KEYS) < 6:
        _KEYS.append(signatures.generate_key_pair())
        return _KEYS[-1]
    _KEYS.append(_KEYS.pop(0))
    return _KEYS[-1]


def free_port(host: str) -> int:
    """A TCP port free on host."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """A request the peer received."""

    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class PeerActor:
    """An account on the fake server."""

    peer: "FakePeer"
    name: str
    uri: str
    key_id: str
    private_pem: str
    public_pem: str
    document: dict = field(default_factory=dict)

    @property
    def acct(self) -> str:
        """user@host:port."""
        return f"{self.name}@{self.peer.netloc}"

    @property
    def inbox(self) -> str:
        """Its personal inbox."""
        return f"{self.uri}/inbox"

    def activity(self, kind: str, obj, **extra) -> dict:
        """An activity by this actor with a fresh id."""
        return {"@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{self.peer.base}/activities/{uuid.uuid4().hex}", "type": kind, "actor": self.uri,
                "object": obj, **extra}

    def note(self, content: str, *, in_reply_to: str | None = None, to=None, cc=None, tag=None,
             serve: bool = True, **extra) -> dict:
        """A public Note by this actor, served at its id unless serve=False."""
        note_id = f"{self.uri}/statuses/{uuid.uuid4().int % 10**12}"
        note = {"id": note_id, "type": "Note", "attributedTo": self.uri, "content": content,
                "published": "2026-11-26T10:00:00Z", "to": to if to is not None else [PUBLIC],
                "cc": cc if cc is not None else [f"{self.uri}/followers"], "inReplyTo": in_reply_to,
                "tag": tag or [], "url": note_id, **extra}
        if serve:
            context = "https://www.w3.org/ns/activitystreams"
            self.peer.serve(urlsplit(note_id).path, {"@context": context, **note})
        return note

    def sign_headers(self, url: str, body: bytes, **kwargs) -> dict:
        """Signed headers for POSTing body to url as this actor."""
        return signatures.sign_request("POST", url, key_id=self.key_id, private_key=self.private_pem,
                                       body=body, headers={"Content-Type": AS}, **kwargs)

    def post_to(self, client, path: str, activity: dict | bytes, *, headers: dict | None = None):
        """POST an activity to the hub through the Flask test client, signed by this actor."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        signed = headers if headers is not None else self.sign_headers(HUB + path, body)
        return client.post(path, data=body, headers=signed, base_url=HUB)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _record(self) -> Received:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        item = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.server.peer.requests.append(item)
        return item

    def _answer(self, status: int, body: bytes = b"", content_type: str = AS, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        peer = self.server.peer
        item = self._record()
        if peer.require_signed_gets and "signature" not in item.headers:
            return self._answer(401, b'{"error":"signature required"}')
        parts = urlsplit(self.path)
        if parts.path == "/.well-known/webfinger":
            resource = parse_qs(parts.query).get("resource", [""])[0]
            jrd = peer.webfinger.get(resource.removeprefix("acct:"))
            if jrd is None:
                return self._answer(404, b"{}", "application/jrd+json")
            return self._answer(200, json.dumps(jrd).encode(), "application/jrd+json")
        found = peer.documents.get(parts.path)
        if found is None:
            return self._answer(404, b'{"error":"not found"}')
        status, content_type, body, extra = found
        if parts.path in peer.drip:
            return self._drip(body, content_type, peer.drip[parts.path])
        return self._answer(status, body, content_type, extra)

    def _drip(self, body: bytes, content_type: str, pause: float):
        """Answer one byte at a time, slowly (a slow-drip attack)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            pass

    def do_POST(self):  # noqa: N802
        peer = self.server.peer
        item = self._record()
        peer.inbox.append(item)
        return self._answer(peer.inbox_status, b"")


class FakePeer:
    """One fake server at http://127.0.0.N:port."""

    def __init__(self, host: str = "127.0.0.5", *, require_signed_gets: bool = False):
        self.host = host
        self.port = free_port(host)
        self.netloc = f"{host}:{self.port}"
        self.base = f"http://{self.netloc}"
        self.documents: dict[str, tuple] = {}
        self.webfinger: dict[str, dict] = {}
        self.requests: list[Received] = []
        self.inbox: list[Received] = []
        self.inbox_status = 202
        self.require_signed_gets = require_signed_gets
        self.actors: dict[str, PeerActor] = {}
        self.drip: dict[str, float] = {}
        self._server = QuietHTTPServer((host, self.port), _Handler)
        self._server.peer = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def start(self) -> "FakePeer":
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def serve(self, path: str, document, *, status: int = 200, content_type: str = AS,
              headers: dict | None = None) -> None:
        """Serve a document (dict → JSON, bytes/str as is) at path."""
        if isinstance(document, dict | list):
            body = json.dumps(document).encode()
        elif isinstance(document, str):
            body = document.encode()
        else:
            body = document
        self.documents[path] = (status, content_type, body, headers or {})

    def add_actor(self, name: str = "alice", *, kind: str = "Person", key_style: str = "mastodon",
                  shared_inbox: bool = True, manually_approves: bool = False, path: str | None = None,
                  **extra) -> PeerActor:
        """An account served at /users/<name> (or path) with a WebFinger entry; key_style 'gts'
        serves the key at <actor>/main-key as GoToSocial does (a stub without inbox)."""
        private_pem, public_pem = key_pair()
        uri = f"{self.base}{path or f'/users/{name}'}"
        key_id = f"{uri}/main-key" if key_style == "gts" else f"{uri}#main-key"
        document = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": uri, "type": kind, "preferredUsername": name, "name": name.title(),
            "summary": "<p>A test account</p>", "url": f"{self.base}/@{name}",
            "inbox": f"{uri}/inbox", "outbox": f"{uri}/outbox", "followers": f"{uri}/followers",
            "following": f"{uri}/following", "manuallyApprovesFollowers": manually_approves,
            "publicKey": {"id": key_id, "owner": uri, "publicKeyPem": public_pem}, **extra}
        if shared_inbox:
            document["endpoints"] = {"sharedInbox": f"{self.base}/inbox"}
        actor = PeerActor(self, name, uri, key_id, private_pem, public_pem, document)
        self.actors[name] = actor
        self.publish_actor(actor)
        if key_style == "gts":
            self.serve(f"{urlsplit(uri).path}/main-key", {
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": uri, "type": kind, "preferredUsername": name,
                "publicKey": {"id": key_id, "owner": uri, "publicKeyPem": public_pem}})
        self.webfinger[actor.acct] = {
            "subject": f"acct:{actor.acct}", "aliases": [uri],
            "links": [{"rel": "self", "type": AS, "href": uri},
                      {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
                       "href": f"{self.base}/@{name}"}]}
        return actor

    def publish_actor(self, actor: PeerActor) -> None:
        """(Re)serve the actor's document at its id."""
        self.serve(urlsplit(actor.uri).path, actor.document)

    def received(self, kind: str | None = None) -> list[dict]:
        """The activities POSTed to this server's inboxes (of one type if given)."""
        activities = [r.json for r in self.inbox]
        return [a for a in activities if kind is None or a.get("type") == kind]
