"""Remote actors, keys and objects: fetched through federation.transport with a GET signed by
the instance's Application actor, checked against the origin rules, and cached in the database.

- A fetched document's id must be the URL fetched (the transport re-checks redirects).
- A key is trusted only as listed by its owner actor's own document, on the key's host
  (GoToSocial's `/main-key` stub is followed to its owner and never stored as an actor).
- Stale actors are refreshed; a failing key is refetched at most once per host per cool-off.
"""

import time
from datetime import timedelta
from urllib.parse import urldefrag

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from federation import errors as federation_errors
from federation import signatures, transport
from federation.addresses import AddressPolicy
from federation.errors import FederationError, HTTPStatusError, SignatureError
from federation.signatures import Signer
from hub import convert
from hub.extensions import db
from hub.models import Actor, Media, Mention, Post, PostTag, Tag
from hub.models.base import utcnow
from hub.models.post import PUBLISHED
from hub.services import ServiceError, orgs, text

STALE_AFTER = timedelta(days=1)
REFETCH_COOLOFF_SECONDS = 300.0
FETCH_DEADLINE_SECONDS = 10.0


class FetchError(ServiceError):
    """A remote document could not be fetched or failed the origin rules (status: HTTP status if any)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def reason(exc: FetchError):
    """Why a fetch failed, in a few words staff can act on (translated; no URLs or exception names)."""
    cause = exc.__cause__
    if exc.status in (404, 410):
        return _l("its server says it does not exist or was deleted")
    if exc.status in (401, 403):
        return _l("its server does not let this hub read it")
    if exc.status:
        return _l("its server answered with an error (HTTP %(status)s); try again later", status=exc.status)
    if isinstance(cause, convert.NotANote):
        return _l("the address is not a post")
    if isinstance(cause, convert.NotAnActor):
        return _l("the address is not an account")
    if isinstance(cause, federation_errors.Timeout):
        return _l("its server did not answer in time; try again later")
    if isinstance(cause, federation_errors.Unresolvable):
        return _l("the server's name was not found; check the address")
    if isinstance(cause, federation_errors.UnsafeAddress):
        return _l("the address points to a private network, which this hub does not contact")
    if isinstance(getattr(cause, "__cause__", None), requests.RequestException | OSError):
        return _l("its server could not be reached; try again later")
    return _l("its server sent something this hub cannot use")


class _State:
    last_refetch: dict[str, float] = {}
    signers: dict[tuple[str, str], Signer] = {}
    policies: dict[tuple, AddressPolicy] = {}


def policy() -> AddressPolicy:
    """The address policy of this app (private networks only as HUB_ALLOW_PRIVATE_NETWORKS lists)."""
    allowed = tuple(current_app.config.get("HUB_ALLOW_PRIVATE_NETWORKS") or ())
    if allowed not in _State.policies:
        _State.policies[allowed] = AddressPolicy(list(allowed))
    return _State.policies[allowed]


def signer() -> Signer:
    """The instance actor's Signer (its PEM parsed once per process, again after a key change)."""
    actor = orgs.instance_actor()
    key = (actor.key_id, actor.public_key_pem)
    if key not in _State.signers:
        _State.signers[key] = Signer(actor.key_id, actor.private_key_pem)
    return _State.signers[key]


def _deadline() -> float:
    return float(current_app.config.get("HUB_FETCH_DEADLINE", FETCH_DEADLINE_SECONDS))


def fetch(url: str, *, check_id: bool = True) -> tuple[dict, str]:
    """(document, final URL) of a signed ActivityStreams GET through the safe transport."""
    try:
        return transport.fetch_document(urldefrag(url)[0], signer=signer(), policy=policy(),
                                        deadline=_deadline(), check_id=check_id)
    except HTTPStatusError as exc:
        raise FetchError(f"could not fetch {url}: {exc}", exc.status) from exc
    except (FederationError, ValueError) as exc:
        raise FetchError(f"could not fetch {url}: {exc}") from exc


def fetch_document(url: str) -> dict:
    """GET an ActivityStreams document (signed by the instance actor) whose id is the URL."""
    return fetch(url)[0]


def _upsert_actor(parsed: convert.RemoteActor) -> Actor:
    domain = convert.host_of(parsed.uri)
    actor = db.session.scalar(select(Actor).where(Actor.uri == parsed.uri))
    if actor is not None and actor.is_local:
        raise FetchError("a remote document claims a local actor")
    clash = db.session.scalar(select(Actor).where(Actor.domain == domain, Actor.handle == parsed.handle,
                                                  Actor.uri != parsed.uri))
    if clash is not None:  # the handle moved to another id: the old row keeps a unique placeholder
        clash.handle = f"{parsed.handle[:40]}~{clash.id}"
    if parsed.key_id:
        owner = db.session.scalar(select(Actor).where(Actor.key_id == parsed.key_id, Actor.uri != parsed.uri))
        if owner is not None:
            owner.key_id = owner.public_key_pem = None
    if actor is None:
        actor = Actor(uri=parsed.uri, domain=domain)
        db.session.add(actor)
    for name in ("type", "handle", "name", "summary_html", "url", "inbox", "shared_inbox", "outbox",
                 "followers_url", "following_url", "icon_url", "key_id", "public_key_pem",
                 "manually_approves_followers", "discoverable"):
        setattr(actor, name, getattr(parsed, name))
    actor.gone, actor.fetched_at = False, utcnow()
    db.session.flush()
    return actor


def store_actor(document: dict) -> Actor:
    """Create or update a remote actor from a document already checked to come from its id."""
    try:
        parsed = convert.from_actor(document)
    except convert.NotAnActor as exc:
        raise FetchError(str(exc)) from exc
    if not parsed.inbox:
        raise FetchError("the actor has no inbox")
    if convert.host_of(parsed.uri) == convert.host_of(current_app.config["HUB_SCHEME"] + "://"
                                                      + current_app.config["HUB_DOMAIN"]):
        raise FetchError("a remote document claims to be on this hub")
    return _upsert_actor(parsed)


def known_actor(uri: str) -> Actor | None:
    """The actor with this id if the hub knows it already (local or cached)."""
    return db.session.scalar(select(Actor).where(Actor.uri == uri)) if uri else None


def get_actor(uri: str, *, refresh: bool = False) -> Actor:
    """The actor with this id: cached when fresh, else fetched and stored."""
    actor = known_actor(uri)
    if actor is not None and (actor.is_local or (not refresh and actor.fetched_at
                                                 and actor.fetched_at > utcnow() - STALE_AFTER)):
        return actor
    try:
        return store_actor(fetch_document(uri))
    except FetchError as exc:
        if actor is not None and exc.status == 410:
            actor.gone = True
        if actor is not None and not refresh and exc.status != 410:
            return actor  # keep serving a stale copy when the origin is down
        raise


def fetch_canonical(url: str) -> dict:
    """A document by any URL of it (e.g. a profile or post page): when the server answers with
    another id on the same origin, the document is fetched again from that id."""
    document, final = fetch(url, check_id=False)
    doc_id = document.get("id")
    if doc_id == final or doc_id == url:
        return document
    if not isinstance(doc_id, str) or convert.host_of(doc_id) != convert.host_of(final):
        raise FetchError(f"{url} answered a document from another origin")
    return fetch_document(doc_id)


def get_actor_by_url(url: str) -> Actor:
    """The actor at a URL typed by staff (its id or its profile page)."""
    known = known_actor(url)
    if known is not None:
        return get_actor(url)
    return store_actor(fetch_canonical(url))


def _owner_of_key_document(key_id: str, document: dict) -> str | None:
    """The owner a key document names: a publicKey's owner, or GoToSocial's stub actor id."""
    for key in convert.as_list(document.get("publicKey")) or [document]:
        if isinstance(key, dict) and key.get("id") == key_id:
            return convert.id_of(key.get("owner")) or convert.id_of(document.get("id"))
    if document.get("id") == key_id:
        return convert.id_of(document.get("owner"))
    return None


def _may_refetch(host: str) -> bool:
    now = time.monotonic()
    cooloff = current_app.config.get("HUB_KEY_REFETCH_COOLOFF", REFETCH_COOLOFF_SECONDS)
    if now - _State.last_refetch.get(host, -1e12) < cooloff:
        return False
    _State.last_refetch[host] = now
    return True


def actor_for_key(key_id: str, *, refetch: bool = False) -> Actor | None:
    """The actor owning a key id, as its owner's own document says; None when it cannot be shown.

    refetch=True asks the origin again (a signature failed with the cached key), at most once
    per host per cool-off.
    """
    if not isinstance(key_id, str) or not key_id.startswith(("http://", "https://")) or len(key_id) > 2048:
        return None
    cached = db.session.scalar(select(Actor).where(Actor.key_id == key_id))
    if cached is not None and (cached.is_local or not refetch):
        return cached
    host = convert.host_of(key_id)
    if refetch and not _may_refetch(host):
        return None
    try:
        document, final = fetch(key_id, check_id=False)
        if _is_actor_at(document, final, key_id):
            actor_doc = document
        else:
            owner = _owner_of_key_document(key_id, document)
            if not owner or convert.host_of(owner) != host:
                return None
            actor_doc = fetch_document(owner)
        actor = store_actor(actor_doc)
    except FetchError:
        return None if refetch else cached
    return actor if actor.key_id == key_id else None


def signer_of(method: str, path: str, query: str, headers: dict, body: bytes | None, params: dict) -> Actor:
    """The actor whose key verifies a signed request (`params`: its parsed Signature header); when
    the key on record does not verify it, the key is fetched again once. SignatureError otherwise."""
    key_id = params["keyId"]
    actor = actor_for_key(key_id)
    if actor is None or not actor.public_key_pem:
        raise SignatureError("the signing key could not be resolved")
    old_pem = actor.public_key_pem
    try:
        signatures.verify_request(method, path, query, headers, body, old_pem, params=params)
    except SignatureError:
        actor = actor_for_key(key_id, refetch=True)
        if actor is None or actor.public_key_pem == old_pem:
            raise
        signatures.verify_request(method, path, query, headers, body, actor.public_key_pem, params=params)
    return actor


def reader_of(method: str, path: str, query: str, headers: dict) -> Actor | None:
    """The actor whose valid signature a bodiless request (a signed GET) carries; None when it is
    unsigned, malformed or does not verify."""
    try:
        return signer_of(method, path, query, headers, None, signatures.signature_params(headers))
    except SignatureError:
        return None


def _is_actor_at(document: dict, final: str, key_id: str) -> bool:
    """True when the key URL served the full actor itself (Mastodon's <actor>#main-key)."""
    kinds = [k for k in convert.as_list(document.get("type")) if isinstance(k, str)]
    key_url = urldefrag(key_id)[0]
    same = transport.clean_url(key_url) == final and document.get("id") in (final, key_url)
    return same and any(k in convert.ACTOR_TYPES for k in kinds) and bool(document.get("inbox"))


# --- remote notes ------------------------------------------------------------------------------

def local_post_for(uri: str | None) -> Post | None:
    """The post (local or cached remote) with this id."""
    return db.session.scalar(select(Post).where(Post.uri == uri)) if uri else None


def store_note(note: convert.RemoteNote, author: Actor) -> Post:
    """Create or update the remote Post for a parsed note (origin already checked by the caller)."""
    post = local_post_for(note.uri)
    if post is not None and (post.local or post.actor_id != author.id):
        raise FetchError("the note belongs to someone else")
    if post is None:
        post = Post(uri=note.uri, actor_id=author.id, local=False, state=PUBLISHED)
        db.session.add(post)
    elif note.updated or post.content_html != note.content_html:
        post.edited_at = note.updated or utcnow()
    post.url = note.url or note.uri
    post.content_html, post.language, post.summary = note.content_html, note.language, note.summary
    post.sensitive, post.visibility = note.sensitive, note.visibility
    post.in_reply_to_uri = note.in_reply_to
    parent = local_post_for(note.in_reply_to)
    post.in_reply_to_id = parent.id if parent is not None else None
    post.published_at = post.published_at or note.published or utcnow()
    db.session.flush()
    _store_tags(post, note)
    return post


def _store_tags(post: Post, note: convert.RemoteNote) -> None:
    post.tags.clear()
    post.mentions.clear()
    for media in list(post.attachments):
        db.session.delete(media)
    db.session.flush()
    seen = set()
    for name in note.hashtags:
        key = text.normalise_tag(name)
        if not key or key in seen:
            continue
        seen.add(key)
        tag = db.session.scalar(select(Tag).filter_by(name=key[:255]))
        if tag is None:
            tag = Tag(name=key[:255])
            db.session.add(tag)
            db.session.flush()
        post.tags.append(PostTag(tag_id=tag.id, display=name[:255]))
    mentioned = set()
    for href in note.mentions:
        actor = known_actor(href)
        if actor is not None and actor.id not in mentioned:
            mentioned.add(actor.id)
            post.mentions.append(Mention(actor_id=actor.id, name=f"@{actor.handle}"[:512]))
    for item in note.attachments:
        db.session.add(Media(post_id=post.id, remote_url=item["url"], media_type=item["media_type"],
                             description=item["description"], blurhash=item["blurhash"],
                             width=item["width"], height=item["height"]))


def fetch_note(uri: str) -> Post:
    """Fetch a remote note by its id (e.g. to boost or like it) and store it; same-origin author only."""
    existing = local_post_for(uri) or db.session.scalar(select(Post).where(Post.url == uri))
    if existing is not None:
        return existing
    document = fetch_canonical(uri)
    try:
        note = convert.from_note(document)
    except convert.NotANote as exc:
        raise FetchError(f"{uri} is not a note") from exc
    if not note.attributed_to or convert.host_of(note.attributed_to) != convert.host_of(note.uri):
        raise FetchError("the note's author is on another server")
    author = get_actor(note.attributed_to)
    return store_note(note, author)
