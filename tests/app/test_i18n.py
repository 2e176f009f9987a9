"""Lao first: the catalogs are complete and current, and the main pages in Lao show no English UI text."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from web_support import Web, text_of

from hub.extensions import db
from hub.services import ServiceError, delivery, posts, reach, users

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "hub" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [("hub/**.py", "python"), ("hub/templates/**.html", "jinja2")]
LAO_LETTER = re.compile(r"[\u0e80-\u0eff]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# Latin words allowed on a Lao page: the product, formats and apps named as such, and data under test.
ALLOWED_WORDS = {"cso", "hub", "atom", "mastodon", "jpeg", "png", "webp", "gif", "http", "https"}


def _catalog(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


def _extracted() -> set[str]:
    """Every msgid in the code and templates, the way pybabel extract (babel.cfg) finds them."""
    ids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), METHODS, keywords=KEYWORDS, directory_filter=lambda d: ".venv" not in d):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def _ids(catalog) -> set[str]:
    return {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id}


def test_every_message_has_a_lao_translation():
    missing, bad = [], []
    for message in _catalog("lo"):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if not all(strings) or "fuzzy" in message.flags:
            missing.append(key)
        elif not LAO_LETTER.search(" ".join(strings)):
            bad.append(key)  # "translated" but no Lao letter: English left in
        elif set(PLACEHOLDER.findall(key)) != set(PLACEHOLDER.findall(strings[0])):
            bad.append(key)
    assert missing == [] and bad == []


def test_the_english_catalog_is_complete_too():
    assert [m.id for m in _catalog("en") if m.id and not all(
        m.string if isinstance(m.string, tuple) else (m.string,))] == []


def test_the_catalogs_cover_every_string_in_the_code_and_templates():
    in_code = _extracted()
    assert in_code, "extraction found nothing"
    for locale in ("lo", "en"):
        assert sorted(in_code - _ids(_catalog(locale))) == [], f"{locale}: run the steps in babel.cfg"


def _key(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


@pytest.mark.parametrize("locale", ["lo", "en"])
def test_the_compiled_catalogs_are_current(locale):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    source = {_key(m.id): _key(m.string) for m in _catalog(locale) if m.id}
    assert compiled == source, "run: pybabel compile -f -d hub/translations, and commit the .mo files"


class _VisibleText(HTMLParser):
    """The text a person sees or hears: text nodes, plus labels in attributes and button values."""

    LABELS = ("placeholder", "title", "aria-label", "alt")

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        self.parts += [attributes[a] for a in self.LABELS if attributes.get(a)]
        if tag == "input" and attributes.get("type") in ("submit", "button", "reset"):
            self.parts.append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _visible(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def _english_msgids() -> list[str]:
    """Fragments of the English UI strings that would betray an untranslated message."""
    fragments = []
    for message in _catalog("en"):
        if message.id:
            text = message.id[0] if isinstance(message.id, tuple) else message.id
            fragments += [f.strip() for f in PLACEHOLDER.split(text)
                          if len(re.findall(r"[A-Za-z]{2,}", f)) >= 2]
    return fragments


@pytest.fixture
def lao_site(app, make_org, make_user):
    """An organisation with posts in every state, and its owner (also the admin) signed in, in Lao."""
    org = make_org("lao_cso", "ອົງການທົດລອງ")
    owner = make_user("owner@example.la", org, "owner", admin=True)
    writer = make_user("writer@example.la", org, "contributor")
    published = posts.create_post(org, owner, "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ #ສິດທິມະນຸດ", summary="ຄຳເຕືອນ")
    posts.create_post(org, writer, "ລໍຖ້າກວດກາ", action="submit")
    draft = posts.create_post(org, writer, "ຮ່າງ", action="draft")
    posts.reject(posts.submit(draft, writer), owner, "ກະລຸນາແກ້ໄຂ")
    posts.edit(published, owner, "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ #ສິດທິມະນຸດ ແກ້ໄຂ")
    return Web(app, accept_language="lo"), owner, published


def _sent_somewhere(post):
    """A delivery of the post queued, and an older one folded into its reach, for its delivery page."""
    for kind in ("Create", "Announce", "Undo"):
        activity = {"id": f"{post.uri}/{kind}", "type": kind, "actor": post.actor.uri}
        delivery.enqueue(activity, post.actor, ["https://reader.example/inbox"], post=post)
    reach.add_pruned(post.id, {"https://old-reader.example/inbox"})
    db.session.commit()


def test_main_pages_in_lao_show_no_english(lao_site):
    web, owner, post = lao_site
    anonymous = ["/", "/@lao_cso", f"/@lao_cso/{post.id}", "/tags/ສິດທິມະນຸດ", "/search?q=ມະນຸດ", "/login",
                 "/manage/lao_cso", "/@nobody"]
    staff = ["/manage/lao_cso", "/manage/lao_cso/compose", f"/manage/lao_cso/posts/{post.id}/edit",
             "/manage/lao_cso/drafts", "/manage/lao_cso/review", "/manage/lao_cso/members",
             "/manage/lao_cso/invitations", "/manage/lao_cso/profile", "/settings", "/admin",
             f"/manage/lao_cso/posts/{post.id}/deliveries", "/manage/lao_cso/followers",
             "/manage/lao_cso/follow-requests", "/manage/lao_cso/followers?before=99",
             "/manage/lao_cso/notifications?before=99"]
    _sent_somewhere(post)
    pages = {url: web.get(url, follow_redirects=True) for url in anonymous}
    web.signed_in_as(owner)
    pages.update({f"staff {url}": web.get(url) for url in staff})
    pages["compose error"] = web.submit("/manage/lao_cso/compose", {"source": "", "language": "lo",
                                                                     "visibility": "public", "publish": "1"})
    pages["invitation link"] = web.submit("/manage/lao_cso/invitations", {"role": "editor"})
    english = _english_msgids()
    data_words = {"lao", "cso", "example", "la", "owner", "writer", "hub", "test", "nobody", "reader"}
    for name, response in pages.items():
        html = text_of(response)
        assert '<html lang="lo">' in html, name
        visible = _visible(html)
        leaked = [fragment for fragment in english if fragment in visible]
        assert leaked == [], (name, leaked)
        words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", visible)}
        assert words - ALLOWED_WORDS - data_words == set(), (name, words - ALLOWED_WORDS - data_words)


def test_service_errors_reach_the_page_in_lao(lao_site):
    web, owner, _post = lao_site
    web.signed_in_as(owner)
    response = web.submit("/admin", {"handle": "lao_cso", "name": "ຊ້ຳ"})
    assert "ຊື່ບັນຊີ “lao_cso” ມີຜູ້ໃຊ້ແລ້ວ" in text_of(response)
    assert "already taken" not in text_of(response)


def test_the_command_line_keeps_english_messages(app):
    with pytest.raises(ServiceError) as refused:
        users.normalise_email("not an address")
    assert str(refused.value) == "Enter a valid e-mail address."
