"""The one bridge between models and ActivityStreams vocabulary: local actors and posts to
documents and activity builders here; remote notes and actors parsed into plain values in
hub.convert_remote, re-exported below so callers only ever use `convert`.

No database access and no network here: callers pass what is not on the models (media URLs).
"""

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote, urlsplit

from markupsafe import escape

from federation import vocab
from hub.convert_remote import (  # noqa: F401  (re-exported: the remote half of the bridge)
    ACTOR_TYPES,
    DIRECT,
    NOTE_TYPES,
    PUBLIC_URI,
    NotAnActor,
    NotANote,
    RemoteActor,
    RemoteNote,
    as_list,
    clean_name,
    from_actor,
    from_note,
    host_of,
    id_of,
    ids_of,
    normalise_public,
    parse_time,
    plain_text,
    visibility_of,
)
from hub.models import Actor, Boost, Follow, Like, Post
from hub.models.post import FOLLOWERS, PUBLIC, UNLISTED

AS_CONTEXT = vocab.AS_CONTEXT
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


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


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
    moment = post.edited_at or post.published_at or post.created_at
    return {"@context": NOTE_CONTEXT, "id": f"{post.uri}#updates/{moment.strftime('%Y%m%d%H%M%S%f')}",
            "type": "Update", "actor": post.actor.uri, "published": iso(moment), "to": note["to"],
            "cc": note["cc"], "object": note}


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


