"""Local post text: Lao-aware hashtags and mentions, and rendering to safe HTML."""

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from markupsafe import escape

MAX_POST_CHARS = 5000
URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
MENTION_RE = re.compile(
    r"(?<![\w@/])@([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]|[A-Za-z0-9_])"
    r"(?:@((?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+(?::\d+)?|localhost(?::\d+)?))?"
)


def _is_tag_char(ch: str) -> bool:
    # Python's \w misses combining marks (Mn/Mc), which carry Lao vowels and tone marks.
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


@dataclass(frozen=True)
class Token:
    """A span of the source: plain text, a hashtag, a mention or a link."""

    kind: str
    text: str
    value: str = ""
    host: str | None = None


def normalise_tag(name: str) -> str:
    """The key a hashtag is stored under: NFC, case-folded, marks kept."""
    return unicodedata.normalize("NFC", name).casefold()


def _hashtag_at(source: str, i: int) -> int:
    """Return the end of a hashtag starting with '#' at i, or i when there is none."""
    if i > 0 and (_is_tag_char(source[i - 1]) or source[i - 1] in "&/#"):
        return i
    j = i + 1
    while j < len(source) and _is_tag_char(source[j]):
        j += 1
    body = source[i + 1 : j]
    if not body or body.isdigit() or unicodedata.category(body[0])[0] == "M":
        return i
    return j


def tokenize(source: str) -> list[Token]:
    """Split post text into text, hashtag, mention and link tokens."""
    tokens: list[Token] = []
    plain_start = i = 0
    while i < len(source):
        ch = source[i]
        token, end = None, i
        if ch == "#":
            end = _hashtag_at(source, i)
            if end > i:
                token = Token("hashtag", source[i:end], source[i + 1 : end])
        elif ch == "@":
            match = MENTION_RE.match(source, i)
            if match and (i == 0 or not _is_tag_char(source[i - 1])):
                end = match.end()
                token = Token("mention", match.group(0), match.group(1), match.group(2))
        elif ch in "hH" and (match := URL_RE.match(source, i)):
            end = match.end()
            token = Token("link", match.group(0), match.group(0))
        if token:
            if plain_start < i:
                tokens.append(Token("text", source[plain_start:i]))
            tokens.append(token)
            i = plain_start = end
        else:
            i += 1
    if plain_start < len(source):
        tokens.append(Token("text", source[plain_start:]))
    return tokens


def hashtags(source: str) -> list[str]:
    """Hashtags in order of first use, without '#', as written."""
    seen, result = set(), []
    for token in tokenize(source):
        if token.kind == "hashtag" and normalise_tag(token.value) not in seen:
            seen.add(normalise_tag(token.value))
            result.append(token.value)
    return result


def mentions(source: str) -> list[tuple[str, str | None]]:
    """Mentioned accounts as (user, host or None for this hub), in order, without repeats."""
    seen, result = set(), []
    for token in tokenize(source):
        key = (token.value.lower(), (token.host or "").lower() or None)
        if token.kind == "mention" and key not in seen:
            seen.add(key)
            result.append(key)
    return result


def _text_html(text: str) -> str:
    return str(escape(text)).replace("\n", "<br>")


def render_html(source: str, tag_url, mention_urls: dict[tuple[str, str | None], str]) -> str:
    """Render post text as escaped HTML with links, hashtags and resolved mentions linkified.

    tag_url(name) gives a hashtag's page; mention_urls maps (user, host) to the account's URL;
    unresolved mentions stay plain text.
    """
    paragraphs = []
    for block in re.split(r"\n\s*\n", source.strip()):
        parts = []
        for token in tokenize(block):
            if token.kind == "hashtag":
                href = escape(tag_url(normalise_tag(token.value)))
                parts.append(f'<a href="{href}" class="mention hashtag" rel="tag">#<span>'
                             f"{escape(token.value)}</span></a>")
            elif token.kind == "mention" and (url := mention_urls.get(
                    (token.value.lower(), (token.host or "").lower() or None))):
                parts.append(f'<span class="h-card"><a href="{escape(url)}" class="u-url mention">'
                             f"@<span>{escape(token.value)}</span></a></span>")
            elif token.kind == "link":
                parts.append(f'<a href="{escape(token.value)}" rel="nofollow noopener noreferrer" '
                             f'target="_blank">{escape(token.value)}</a>')
            else:
                parts.append(_text_html(token.text))
        paragraphs.append(f"<p>{''.join(parts)}</p>")
    return "".join(paragraphs)


def tag_path(name: str) -> str:
    """The URL path of a hashtag page."""
    return "/tags/" + quote(normalise_tag(name))
