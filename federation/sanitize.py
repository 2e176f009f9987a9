"""Remote HTML made safe at ingest with nh3 (Mastodon's allow-list), and plain text for names,
summaries and display names."""

import html
import re
import unicodedata

import nh3

TAGS = frozenset({"p", "br", "span", "a", "del", "pre", "code", "em", "strong", "b", "i", "u",
                  "ul", "ol", "li", "blockquote"})
ATTRIBUTES = {"a": {"href"}, "ol": {"start", "reversed"}, "li": {"value"}}
CLASSES = {"span": {"h-card", "mention", "hashtag", "u-url", "invisible", "ellipsis"},
           "a": {"h-card", "mention", "hashtag", "u-url", "status-link"}}
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "svg", "math", "object", "embed",
                                  "template", "noscript", "textarea", "select", "title"})
LINK_REL = "nofollow noopener noreferrer"
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile(r"<br\s*/?>|</p\s*>\s*<p(?:\s[^>]*)?>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_SAFE_HREF = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def _attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "a" and name == "href":
        value = value.strip()
        return value if _SAFE_HREF.fullmatch(value) else None
    if name in ("start", "value"):
        return value if value.strip().lstrip("-").isdigit() and len(value) < 10 else None
    return value


_CLEANER = nh3.Cleaner(tags=set(TAGS), clean_content_tags=set(DROPPED_WITH_CONTENT),
                       attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
                       attribute_filter=_attribute, strip_comments=True, link_rel=LINK_REL,
                       url_schemes={"http", "https"},
                       allowed_classes={tag: set(names) for tag, names in CLASSES.items()},
                       set_tag_attribute_values={"a": {"target": "_blank"}})
_TEXT = nh3.Cleaner(tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT), strip_comments=True)


def sanitize_html(value: str) -> str:
    """Remote HTML reduced to Mastodon's allow-list; links http(s) only, rel=nofollow, new tab."""
    if not isinstance(value, str) or not value:
        return ""
    return _CLEANER.clean(value)


def to_text(value: str) -> str:
    """HTML with every tag removed (line breaks kept as newlines); entities stay escaped."""
    if not isinstance(value, str) or not value:
        return ""
    return _TEXT.clean(_BREAKS.sub("\n", value))


def plain_text(value: str) -> str:
    """HTML (or text) as plain text: tags dropped, entities decoded, bidi overrides removed."""
    return BIDI_CONTROLS.sub("", html.unescape(to_text(value))).strip()


def clean_display_name(value: str, limit: int = 2048) -> str:
    """A display name as safe plain text: no bidi overrides or control characters, spaces collapsed."""
    if not isinstance(value, str):
        return ""
    value = BIDI_CONTROLS.sub("", value)
    value = "".join(c for c in value if unicodedata.category(c) != "Cc" or c in "\t\n")
    return _SPACES.sub(" ", value).strip()[:limit]
