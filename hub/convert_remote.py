"""Remote ActivityStreams documents (notes and actors of other servers) reduced to plain values,
their HTML sanitised with federation.sanitize. Part of the models ↔ vocabulary bridge: hub.convert
re-exports everything here, so callers use `convert.from_note` and friends.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from markupsafe import escape

from federation import sanitize, vocab
from hub.models.post import FOLLOWERS, PUBLIC, UNLISTED

PUBLIC_URI = vocab.PUBLIC
DIRECT = "direct"
ACTOR_TYPES = vocab.ACTOR_TYPES
NOTE_TYPES = {"Note", "Article", "Page", "Question", "Event", "Video", "Audio", "Image"}
MAX_CONTENT = 100_000
MAX_TAGS = 50
MAX_ATTACHMENTS = 16
MAX_NAME = 255
MAX_SUMMARY = 20_000
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


def parse_time(value) -> datetime | None:
    """Parse an xsd:dateTime into naive UTC, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


as_list = vocab.as_list


def id_of(value) -> str | None:
    """The id of a reference: a string, or an object's id (or a Link's href)."""
    if isinstance(value, dict) and not isinstance(value.get("id"), str):
        return value["href"] if isinstance(value.get("href"), str) else None
    return vocab.get_id(value)


def ids_of(value) -> list[str]:
    """Ids of a reference or a list of references, skipping anything unusable."""
    return [i for i in (id_of(v) for v in as_list(value)) if i]


def normalise_public(uri: str) -> str:
    """as:Public and Public as the full Public URI."""
    return PUBLIC_URI if uri in vocab.PUBLIC_ALIASES else uri


def host_of(uri: str | None) -> str:
    """The normalised host[:port] of a URI (empty when unusable)."""
    return (vocab.host_of(uri) if isinstance(uri, str) else None) or ""


def plain_text(value, limit: int = MAX_SUMMARY) -> str:
    """Remote HTML or text reduced to plain text (tags dropped, entities decoded, no bidi overrides)."""
    if not isinstance(value, str):
        return ""
    return sanitize.plain_text(value[: limit * 4])[:limit]


# --- notes ------------------------------------------------------------------------------------

@dataclass
class RemoteNote:
    """A remote Note reduced to what the hub stores (HTML already sanitised)."""

    uri: str
    type: str
    attributed_to: str | None
    url: str | None = None
    content_html: str = ""
    language: str | None = None
    summary: str = ""
    sensitive: bool = False
    visibility: str = DIRECT
    in_reply_to: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)


class NotANote(ValueError):
    """The document is not a note the hub can store."""


def _first_language(content_map) -> tuple[str | None, str | None]:
    if not isinstance(content_map, dict):
        return None, None
    for lang, value in content_map.items():
        if isinstance(lang, str) and isinstance(value, str) and LANGUAGE_TAG.fullmatch(lang):
            return lang[:16], value
    return None, None


def visibility_of(to: list[str], cc: list[str], followers_url: str | None = None) -> str:
    """public, unlisted, followers or direct from a note's addressing."""
    if PUBLIC_URI in to:
        return PUBLIC
    if PUBLIC_URI in cc:
        return UNLISTED
    if followers_url and followers_url in to + cc:
        return FOLLOWERS
    if any(r.endswith("/followers") for r in to + cc):
        return FOLLOWERS
    return DIRECT


def _remote_url(value) -> str | None:
    for item in as_list(value):
        if isinstance(item, str) and item.startswith(("http://", "https://")):
            return item[:2048]
        if isinstance(item, dict) and isinstance(item.get("href"), str):
            media = str(item.get("mediaType") or "text/html")
            if media.startswith("text/html") and item["href"].startswith(("http://", "https://")):
                return item["href"][:2048]
    return None


def _attachments(value) -> list[dict]:
    result = []
    for item in as_list(value)[:MAX_ATTACHMENTS]:
        if not isinstance(item, dict):
            continue
        url = _remote_url(item.get("url")) or _http(item.get("href"))
        if not url or not url.startswith(("http://", "https://")):
            continue
        media_type = item.get("mediaType") if isinstance(item.get("mediaType"), str) else ""
        if not media_type:
            for candidate in as_list(item.get("url")):
                if isinstance(candidate, dict) and isinstance(candidate.get("mediaType"), str):
                    media_type = candidate["mediaType"]
                    break
        result.append({"url": url[:2048], "media_type": (media_type or "application/octet-stream")[:64],
                       "description": plain_text(item.get("name") or item.get("summary"), 1500),
                       "blurhash": item["blurhash"][:64] if isinstance(item.get("blurhash"), str) else None,
                       "width": _small_int(item.get("width")), "height": _small_int(item.get("height"))})
    return result


def _small_int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000 else None


def from_note(document: dict, *, followers_url: str | None = None) -> RemoteNote:
    """Parse a remote Note (or Article, Page, Question …) into sanitised plain values."""
    if not isinstance(document, dict):
        raise NotANote("not an object")
    kind = document.get("type")
    kind = next((k for k in as_list(kind) if isinstance(k, str) and k in NOTE_TYPES), None)
    uri = document.get("id")
    if kind is None or not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise NotANote("not a note with an http(s) id")
    authors = [a for a in ids_of(document.get("attributedTo")) if a.startswith(("http://", "https://"))]
    language, mapped = _first_language(document.get("contentMap"))
    content = document.get("content")
    if not isinstance(content, str):
        content = mapped or ""
    name = document.get("name") if isinstance(document.get("name"), str) else ""
    if kind in ("Article", "Page", "Event", "Video") and name:
        content = f"<p><strong>{escape(plain_text(name, 500))}</strong></p>{content}"
    to = [normalise_public(r) for r in ids_of(document.get("to"))][:200]
    cc = [normalise_public(r) for r in ids_of(document.get("cc"))][:200]
    note = RemoteNote(uri=uri[:2048], type=kind, attributed_to=authors[0][:2048] if authors else None)
    note.url = _remote_url(document.get("url"))
    note.content_html = sanitize.sanitize_html(content[:MAX_CONTENT])
    note.language = language
    note.summary = plain_text(document.get("summary"), 2000)
    note.sensitive = document.get("sensitive") is True or bool(note.summary)
    note.to, note.cc = to, cc
    note.visibility = visibility_of(to, cc, followers_url)
    reply = id_of(document.get("inReplyTo"))
    note.in_reply_to = reply[:2048] if reply and reply.startswith(("http://", "https://")) else None
    note.published = parse_time(document.get("published"))
    note.updated = parse_time(document.get("updated"))
    for tag in as_list(document.get("tag"))[: MAX_TAGS * 4]:
        if not isinstance(tag, dict):
            continue
        kinds = as_list(tag.get("type"))
        if "Hashtag" in kinds and isinstance(tag.get("name"), str) and len(note.hashtags) < MAX_TAGS:
            note.hashtags.append(tag["name"].lstrip("#")[:255])
        elif "Mention" in kinds and isinstance(tag.get("href"), str) and len(note.mentions) < MAX_TAGS:
            note.mentions.append(tag["href"][:2048])
    note.attachments = _attachments(document.get("attachment"))
    return note


@dataclass
class RemoteActor:
    """A remote actor document reduced to the Actor columns (name and summary sanitised)."""

    uri: str
    type: str
    handle: str
    name: str = ""
    summary_html: str = ""
    url: str | None = None
    inbox: str | None = None
    shared_inbox: str | None = None
    outbox: str | None = None
    followers_url: str | None = None
    following_url: str | None = None
    icon_url: str | None = None
    key_id: str | None = None
    public_key_pem: str | None = None
    manually_approves_followers: bool = False
    discoverable: bool = False


class NotAnActor(ValueError):
    """The document is not an actor the hub can use."""


def clean_name(value) -> str:
    """A display name as plain text without control or bidirectional override characters."""
    return sanitize.clean_display_name(plain_text(value, 2048))[:MAX_NAME]


def _http(value) -> str | None:
    return value[:2048] if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def from_actor(document: dict) -> RemoteActor:
    """Parse a remote actor document (keys taken only from publicKey objects it embeds)."""
    if not isinstance(document, dict):
        raise NotAnActor("not an object")
    kinds = [k for k in as_list(document.get("type")) if isinstance(k, str)]
    kind = next((k for k in kinds if k in ACTOR_TYPES), None)
    uri = _http(document.get("id"))
    if kind is None or uri is None:
        raise NotAnActor("not an actor with an http(s) id")
    handle = document.get("preferredUsername")
    if not isinstance(handle, str) or not handle.strip():
        handle = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1] or host_of(uri)
    handle = sanitize.clean_display_name(handle).replace(" ", "")[:64]
    endpoints = document.get("endpoints") if isinstance(document.get("endpoints"), dict) else {}
    remote = RemoteActor(uri=uri, type=kind, handle=handle)
    remote.name = clean_name(document.get("name")) or handle
    remote.summary_html = sanitize.sanitize_html(document["summary"][:MAX_SUMMARY]) \
        if isinstance(document.get("summary"), str) else ""
    remote.url = _remote_url(document.get("url")) or uri
    remote.inbox = _http(id_of(document.get("inbox")))
    remote.shared_inbox = _http(id_of(endpoints.get("sharedInbox")))
    remote.outbox = _http(id_of(document.get("outbox")))
    remote.followers_url = _http(id_of(document.get("followers")))
    remote.following_url = _http(id_of(document.get("following")))
    icon = next((i for i in as_list(document.get("icon")) if isinstance(i, dict | str)), None)
    remote.icon_url = _remote_url(icon.get("url") if isinstance(icon, dict) else icon)
    for key in as_list(document.get("publicKey")):
        if isinstance(key, dict) and isinstance(key.get("publicKeyPem"), str) and _http(key.get("id")):
            if id_of(key.get("owner")) in (None, uri):
                remote.key_id, remote.public_key_pem = key["id"][:2048], key["publicKeyPem"][:10_000]
                break
    remote.manually_approves_followers = document.get("manuallyApprovesFollowers") is True
    remote.discoverable = document.get("discoverable") is True
    return remote
