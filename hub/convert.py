"""The one bridge between models and ActivityStreams vocabulary: local actors and posts to
documents, activity builders, and remote notes and actors parsed into plain values.

No database access and no network here: callers pass what is not on the models (media URLs).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from markupsafe import escape

from federation import sanitize, vocab
from hub.models import GROUP, Actor, Boost, Follow, Like, Post
from hub.models.post import FOLLOWERS, PUBLIC, UNLISTED

AS_CONTEXT = vocab.AS_CONTEXT
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

ACTOR_CONTEXT = vocab.MASTODON_CONTEXT
MASTODON_TERMS = vocab.MASTODON_TERMS
NOTE_CONTEXT = [AS_CONTEXT, {k: MASTODON_TERMS[k] for k in ("toot", "sensitive", "Hashtag", "blurhash",
                                                            "focalPoint")}]


# --- small helpers -----------------------------------------------------------------------------

def iso(moment: datetime | None) -> str | None:
    """A naive-UTC datetime as an xsd:dateTime with Z."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat() + "Z"


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


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def plain_text(value, limit: int = MAX_SUMMARY) -> str:
    """Remote HTML or text reduced to plain text (tags dropped, entities decoded, no bidi overrides)."""
    if not isinstance(value, str):
        return ""
    return sanitize.plain_text(value[: limit * 4])[:limit]


def local_acct(actor: Actor) -> str:
    """handle@host of a local actor, host taken from its id."""
    return f"{actor.handle}@{urlsplit(actor.uri).netloc}"


def bio_html(text: str) -> str:
    """A local plain-text bio as escaped HTML paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    return "".join(f"<p>{str(escape(p)).replace(chr(10), '<br>')}</p>" for p in paragraphs)


# --- local actors ------------------------------------------------------------------------------

def avatar_url(actor: Actor, media_url: Callable[[str], str] | None = None) -> str | None:
    """An actor's avatar address: its uploaded file (through media_url) or its remote icon."""
    if actor.avatar is not None and actor.avatar.file_name and media_url is not None:
        return media_url(actor.avatar.file_name)
    return actor.icon_url


def actor_to_ap(actor: Actor, *, media_url: Callable[[str], str] | None = None, icon_url: str | None = None,
                published: datetime | None = None) -> dict:
    """The ActivityPub document of a local Organization, Group or Application actor."""
    icon_url = icon_url or avatar_url(actor, media_url)
    bios = {lang: bio_html(getattr(actor, f"bio_{lang}", "")) for lang in ("lo", "en")}
    bios = {lang: text for lang, text in bios.items() if text}
    summary = bios.get(actor.default_language) or next(iter(bios.values()), "")
    document = {
        "@context": ACTOR_CONTEXT,
        "id": actor.uri,
        "type": actor.type,
        "preferredUsername": actor.handle,
        "name": actor.name,
        "summary": summary,
        "url": actor.url or actor.uri,
        "inbox": actor.inbox,
        "outbox": actor.outbox,
        "followers": actor.followers_url,
        "following": actor.following_url,
        "featured": f"{actor.uri}/featured",
        "endpoints": {"sharedInbox": actor.shared_inbox},
        "manuallyApprovesFollowers": bool(actor.manually_approves_followers),
        "discoverable": bool(actor.discoverable),
        "indexable": bool(actor.discoverable),
        "published": iso(published or actor.created_at),
        "webfinger": f"acct:{local_acct(actor)}",
        "publicKey": {"id": actor.key_id, "owner": actor.uri, "publicKeyPem": actor.public_key_pem},
        "attachment": [],
        "tag": [],
    }
    if bios:
        document["summaryMap"] = bios
    if actor.website:
        link = str(escape(actor.website))
        document["attachment"].append({
            "type": "PropertyValue", "name": "Website",
            "value": f'<a href="{link}" rel="me nofollow noopener noreferrer" target="_blank">{link}</a>'})
    if icon_url:
        document["icon"] = {"type": "Image", "url": icon_url, "mediaType": _image_type(icon_url)}
    if actor.type == "Application":
        for key in ("followers", "following", "featured", "webfinger", "attachment", "tag", "summaryMap"):
            document.pop(key, None)
        document["webfinger"] = f"acct:{local_acct(actor)}"
    return document


def _image_type(url: str) -> str:
    lower = url.lower()
    for suffix, media_type in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif")):
        if lower.endswith(suffix):
            return media_type
    return "image/jpeg"


def key_document(actor: Actor) -> dict:
    """The publicKey object served at the key id's document (the actor itself)."""
    return {"id": actor.key_id, "owner": actor.uri, "publicKeyPem": actor.public_key_pem}


# --- local notes -------------------------------------------------------------------------------

def audience(post: Post) -> tuple[list[str], list[str]]:
    """to and cc of a local post from its visibility (mentioned actors addressed too)."""
    followers = post.actor.followers_url
    mentioned = [m.actor.uri for m in post.mentions if m.actor is not None]
    if post.visibility == PUBLIC:
        return [PUBLIC_URI], [followers, *mentioned]
    if post.visibility == UNLISTED:
        return [followers], [PUBLIC_URI, *mentioned]
    if post.visibility == FOLLOWERS:
        return [followers], mentioned
    return mentioned, []


def tag_url(post: Post, name: str) -> str:
    """The hub's page of a hashtag (on the post's own origin)."""
    return f"{_origin(post.uri)}/tags/{quote(name)}"


def note_to_ap(post: Post, *, media_url: Callable[[str], str] | None = None, context: bool = True) -> dict:
    """The Note of a local post, as served at its id and embedded in Create/Update."""
    to, cc = audience(post)
    tags = [{"type": "Mention", "href": m.actor.uri, "name": m.name} for m in post.mentions if m.actor]
    tags += [{"type": "Hashtag", "href": tag_url(post, t.tag.name), "name": f"#{t.display}"}
             for t in post.tags]
    note = {
        "id": post.uri,
        "type": "Note",
        "summary": post.summary or None,
        "inReplyTo": post.in_reply_to_uri,
        "published": iso(post.published_at or post.created_at),
        "url": post.url or post.uri,
        "attributedTo": post.actor.uri,
        "to": to,
        "cc": cc,
        "sensitive": bool(post.sensitive),
        "content": post.content_html,
        "contentMap": {post.language: post.content_html} if post.language else {},
        "attachment": [_attachment(m, media_url) for m in post.attachments
                       if m.file_name or m.remote_url],
        "tag": tags,
    }
    if post.edited_at:
        note["updated"] = iso(post.edited_at)
    if not note["contentMap"]:
        del note["contentMap"]
    if context:
        note = {"@context": NOTE_CONTEXT, **note}
    return note


def _attachment(media, media_url) -> dict:
    url = media.remote_url or (media_url(media.file_name) if media_url else media.file_name)
    item = {"type": "Image" if media.media_type.startswith("image/") else "Document",
            "mediaType": media.media_type, "url": url, "name": media.description or None}
    if media.blurhash:
        item["blurhash"] = media.blurhash
    if media.width and media.height:
        item["width"], item["height"] = media.width, media.height
    return item


def tombstone(post: Post) -> dict:
    """What a deleted post's URL answers (with 410)."""
    return {"@context": AS_CONTEXT, "id": post.uri, "type": "Tombstone",
            "deleted": iso(post.deleted_at)}


# --- activities --------------------------------------------------------------------------------

def create(post: Post, *, media_url=None) -> dict:
    """Create{Note} of a local post; its id is the post's id + /activity."""
    note = note_to_ap(post, media_url=media_url, context=False)
    return {"@context": NOTE_CONTEXT, "id": f"{post.uri}/activity", "type": "Create",
            "actor": post.actor.uri, "published": note["published"], "to": note["to"], "cc": note["cc"],
            "object": note}


def update(post: Post, *, media_url=None) -> dict:
    """Update{Note} after an edit (the Note carries `updated`)."""
    note = note_to_ap(post, media_url=media_url, context=False)
    stamp = note.get("updated") or iso(post.edited_at or post.published_at)
    return {"@context": NOTE_CONTEXT, "id": f"{post.uri}#updates/{_compact(stamp)}", "type": "Update",
            "actor": post.actor.uri, "published": stamp, "to": note["to"], "cc": note["cc"],
            "object": note}


def delete(post: Post) -> dict:
    """Delete{Tombstone} of a local post."""
    to, cc = audience(post)
    return {"@context": AS_CONTEXT, "id": f"{post.uri}#delete", "type": "Delete", "actor": post.actor.uri,
            "to": to, "cc": cc,
            "object": {"id": post.uri, "type": "Tombstone", "atomUri": post.uri}}


def update_actor(actor: Actor, *, media_url=None, stamp: datetime | None = None) -> dict:
    """Update{Organization|Group} sent to followers when a profile or key changes."""
    document = actor_to_ap(actor, media_url=media_url)
    document.pop("@context")
    when = iso(stamp or actor.updated_at)
    return {"@context": ACTOR_CONTEXT, "id": f"{actor.uri}#updates/{_compact(when)}", "type": "Update",
            "actor": actor.uri, "to": [PUBLIC_URI], "cc": [actor.followers_url], "object": document}


def announce(boost: Boost, *, post_uri: str, author_uri: str) -> dict:
    """Announce in Mastodon's shape: stable id, to Public, cc author and our followers, object a URI."""
    actor = boost.actor
    return {"@context": AS_CONTEXT, "id": boost.uri, "type": "Announce", "actor": actor.uri,
            "published": iso(boost.created_at), "to": [PUBLIC_URI],
            "cc": [author_uri, actor.followers_url], "object": post_uri}


def undo(activity: dict) -> dict:
    """Undo of one of our activities, embedding {id, type, actor, object}."""
    inner = {key: activity[key] for key in ("id", "type", "actor", "object") if key in activity}
    document = {"@context": AS_CONTEXT, "id": f"{activity['id']}#undo", "type": "Undo",
                "actor": activity["actor"], "object": inner}
    for key in ("to", "cc"):
        if key in activity:
            document[key] = activity[key]
    return document


def like(item: Like) -> dict:
    """Like of a post."""
    return {"@context": AS_CONTEXT, "id": item.uri, "type": "Like", "actor": item.actor.uri,
            "object": item.post.uri, "to": [item.post.actor.uri]}


def follow(item: Follow) -> dict:
    """Follow of a remote actor by one of ours."""
    return {"@context": AS_CONTEXT, "id": item.uri, "type": "Follow", "actor": item.follower.uri,
            "object": item.target.uri, "to": [item.target.uri]}


def _follow_response(kind: str, item: Follow) -> dict:
    target = item.target
    follow_doc = {"id": item.uri, "type": "Follow", "actor": item.follower.uri, "object": target.uri}
    return {"@context": AS_CONTEXT, "id": f"{target.uri}#{kind.lower()}s/follows/{item.id}/{_token(item)}",
            "type": kind, "actor": target.uri, "to": [item.follower.uri], "object": follow_doc}


def accept(item: Follow) -> dict:
    """Accept of a Follow of one of ours, embedding the Follow with its id; signed by our actor."""
    return _follow_response("Accept", item)


def reject(item: Follow) -> dict:
    """Reject of a Follow of one of ours (also how a follower is removed)."""
    return _follow_response("Reject", item)


def block_to_ap(actor: Actor, target: Actor, uri: str) -> dict:
    """Block of a remote actor by one of ours."""
    return {"@context": AS_CONTEXT, "id": uri, "type": "Block", "actor": actor.uri, "object": target.uri}


def _compact(stamp: str | None) -> str:
    return re.sub(r"[^0-9]", "", stamp or "") or "0"


def _token(item: Follow) -> str:
    return _compact(iso(item.accepted_at or item.created_at))


# --- collections -------------------------------------------------------------------------------

def ordered_collection(uri: str, total: int | None, *, first: str | None = None,
                       items: list | None = None) -> dict:
    """An OrderedCollection: with `first` (paged), inline items, or a count only."""
    document = {"@context": AS_CONTEXT, "id": uri, "type": "OrderedCollection"}
    if total is not None:
        document["totalItems"] = total
    if first:
        document["first"] = first
    if items is not None:
        document["orderedItems"] = items
    return document


def collection_page(uri: str, part_of: str, items: list, *, next_uri: str | None = None,
                    prev_uri: str | None = None) -> dict:
    """One OrderedCollectionPage."""
    document = {"@context": AS_CONTEXT, "id": uri, "type": "OrderedCollectionPage", "partOf": part_of,
                "orderedItems": items}
    if next_uri:
        document["next"] = next_uri
    if prev_uri:
        document["prev"] = prev_uri
    return document


def network_type(actor: Actor) -> bool:
    """True for a network (Group) actor."""
    return actor.type == GROUP


# --- remote documents --------------------------------------------------------------------------

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
