"""Atom feeds (RFC 4287) of an organisation's public posts."""

from datetime import datetime
from xml.etree import ElementTree as ET

from hub.models import Actor, Post
from hub.services import posts, urls

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_SIZE = 20
TITLE_CHARS = 80


def _stamp(moment: datetime | None) -> str:
    """RFC 3339 UTC time of a naive UTC datetime."""
    return (moment or datetime(1970, 1, 1)).replace(microsecond=0).isoformat() + "Z"


def _title(post: Post) -> str:
    """A plain-text title: the content warning, else the start of the text."""
    text = post.summary or " ".join(post.source.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def feed_url(org: Actor) -> str:
    """The feed's own address."""
    return f"{urls.profile_url(org.handle)}/feed.atom"


def atom_feed(org: Actor, icon: str | None = None) -> bytes:
    """The organisation's newest public posts as an Atom document (UTF-8 bytes)."""
    ET.register_namespace("", ATOM_NS)
    items = posts.public_posts(org, limit=FEED_SIZE, with_tags=True)
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {XML_LANG: org.default_language or "lo"})
    _sub(feed, "id", org.uri)
    _sub(feed, "title", org.name or org.handle)
    if org.bio_lo or org.bio_en:
        _sub(feed, "subtitle", org.bio_lo or org.bio_en)
    updated = max((p.edited_at or p.published_at for p in items), default=org.updated_at or org.created_at)
    _sub(feed, "updated", _stamp(updated))
    _sub(feed, "link", rel="alternate", type="text/html", href=urls.profile_url(org.handle))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=feed_url(org))
    author = _sub(feed, "author")
    _sub(author, "name", org.name or org.handle)
    _sub(author, "uri", urls.profile_url(org.handle))
    if icon:
        _sub(feed, "icon", icon)
    _sub(feed, "generator", "CSO Hub")
    for post in items:
        entry = _sub(feed, "entry", **{XML_LANG: post.language or org.default_language or "lo"})
        _sub(entry, "id", post.uri)
        _sub(entry, "title", _title(post))
        _sub(entry, "published", _stamp(post.published_at))
        _sub(entry, "updated", _stamp(post.edited_at or post.published_at))
        _sub(entry, "link", rel="alternate", type="text/html", href=post.url or post.uri)
        if post.summary:
            _sub(entry, "summary", post.summary)
        _sub(entry, "content", post.content_html, type="html")
        for tag in post.tags:
            _sub(entry, "category", term=tag.display)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
