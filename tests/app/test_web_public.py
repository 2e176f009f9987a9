"""Public pages: home, profile, permalink, tags, search and the Atom feed; escaping and page weight."""

from xml.etree import ElementTree as ET

import pytest
from statements import statements_of
from web_support import Web, text_of

from hub.services import posts, users

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_PAGE_BYTES = 100 * 1024


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


@pytest.fixture
def editor(org, make_user):
    """An editor of the organisation (publishes at once)."""
    return make_user("editor@example.la", org, "editor")


def test_home_lists_the_organisations(app, org, make_org):
    make_org("forest_net", "ເຄືອຂ່າຍປ່າໄມ້")
    page = text_of(Web(app).get("/"))
    assert 'href="/@lao_cso"' in page and 'href="/@forest_net"' in page
    assert "@lao_cso@hub.test" in page


def test_profile_links_its_feed_and_pages_through_posts(app, org, editor):
    made = [posts.create_post(org, editor, f"ໂພສທີ {n}") for n in range(25)]
    posts.create_post(org, editor, "ສະເພາະຜູ້ຕິດຕາມ", visibility="followers")
    posts.create_post(org, editor, "ບໍ່ລົງລາຍການ", visibility="unlisted")
    first = Web(app).get("/@lao_cso")
    page = text_of(first)
    assert ('<link rel="alternate" type="application/atom+xml" title="ອົງການທົດລອງ" '
            'href="/@lao_cso/feed.atom">') in page
    assert "ສະເພາະຜູ້ຕິດຕາມ" not in page and "ບໍ່ລົງລາຍການ" in page
    assert page.count('<article class="post"') == 20
    assert "ໂພສທີ 24" in page and "ໂພສທີ 5<" not in page
    assert first.headers["Vary"] == "Accept" or "Accept" in first.headers.get("Vary", "")
    older = text_of(Web(app).get(f"/@lao_cso?before={made[6].id + 1}"))
    assert "ໂພສທີ 5" in older and "ໂພສທີ 0" in older and "ໂພສທີ 24" not in older


def test_the_profile_links_older_posts_only_when_there_are_some(app, org, editor):
    made = [posts.create_post(org, editor, f"ໂພສເກົ່າ {n}") for n in range(20)]
    posts.create_post(org, editor, "ສະເພາະຜູ້ຕິດຕາມ", visibility="followers")
    assert "ໂພສເກົ່າກວ່າ" not in text_of(Web(app).get("/@lao_cso"))  # twenty: exactly one page
    posts.create_post(org, editor, "ບໍ່ລົງລາຍການ", visibility="unlisted")
    page = text_of(Web(app).get("/@lao_cso?fresh=1"))
    assert f'href="/@lao_cso?before={made[1].id}" rel="next">ໂພສເກົ່າກວ່າ' in page
    older = text_of(Web(app).get(f"/@lao_cso?before={made[1].id}"))
    assert "ໂພສເກົ່າ 0<" in older and "ໂພສເກົ່າກວ່າ" not in older


def test_permalinks_show_only_public_and_unlisted_published_posts(app, org, editor, make_org, make_user):
    public = posts.create_post(org, editor, "ສາທາລະນະ")
    unlisted = posts.create_post(org, editor, "ລິ້ງເທົ່ານັ້ນ", visibility="unlisted")
    followers = posts.create_post(org, editor, "ຜູ້ຕິດຕາມ", visibility="followers")
    draft = posts.create_post(org, editor, "ຮ່າງ", action="draft")
    pending = posts.create_post(org, editor, "ລໍຖ້າ", action="submit")
    web = Web(app)
    assert web.get(f"/@lao_cso/{public.id}").status_code == 200
    assert web.get(f"/@lao_cso/{unlisted.id}").status_code == 200
    assert '<meta name="robots" content="noindex">' in text_of(web.get(f"/@lao_cso/{unlisted.id}"))
    for hidden in (followers, draft, pending):
        response = web.get(f"/@lao_cso/{hidden.id}")
        assert response.status_code == 404 and hidden.source not in text_of(response)
    make_org("other", "ອື່ນ")
    assert web.get(f"/@other/{public.id}").status_code == 404
    assert web.get("/@lao_cso/999999").status_code == 404
    assert web.get("/@nobody").status_code == 404
    posts.delete(public, editor)
    assert web.get(f"/@lao_cso/{public.id}").status_code == 410


def test_the_atom_feed_is_valid_and_public_only(app, org, editor):
    posts.create_post(org, editor, "ສະບາຍດີ <b>ທຸກຄົນ</b> #ຂ່າວ", language="lo")
    posts.create_post(org, editor, "ບໍ່ລົງລາຍການ", visibility="unlisted")
    posts.create_post(org, editor, "ຜູ້ຕິດຕາມ", visibility="followers")
    for n in range(22):
        posts.create_post(org, editor, f"News number {n}", language="en", summary="CW" if n == 21 else "")
    response = Web(app).get("/@lao_cso/feed.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "http://hub.test/actors/lao_cso"
    assert feed.findtext(f"{ATOM}title") == "ອົງການທົດລອງ"
    assert feed.findtext(f"{ATOM}updated").endswith("Z")
    assert feed.find(f"{ATOM}author/{ATOM}name").text == "ອົງການທົດລອງ"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": "http://hub.test/@lao_cso/feed.atom", "alternate": "http://hub.test/@lao_cso"}
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 20
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 20 and all(i.startswith("http://hub.test/@lao_cso/") for i in ids)
    newest = entries[0]
    assert newest.findtext(f"{ATOM}summary") == "CW" and newest.get(XML_LANG) == "en"
    assert newest.find(f"{ATOM}content").get("type") == "html"
    assert newest.findtext(f"{ATOM}updated").endswith("Z") and newest.findtext(f"{ATOM}title")
    every = text_of(response)
    assert "ບໍ່ລົງລາຍການ" not in every and "ຜູ້ຕິດຕາມ" not in every
    assert "ສະບາຍດີ" not in every  # the oldest public post is past the newest 20


def test_the_feed_escapes_html_in_content(app, org, editor):
    posts.create_post(org, editor, "ສະບາຍດີ <b>ທຸກຄົນ</b> #ຂ່າວ", language="lo")
    feed = ET.fromstring(Web(app).get("/@lao_cso/feed.atom").data)
    entry = feed.find(f"{ATOM}entry")
    assert entry.get(XML_LANG) == "lo"
    content = entry.findtext(f"{ATOM}content")
    assert "&lt;b&gt;" in content and "<b>" not in content  # the post's text was escaped before linkifying
    assert 'rel="tag"' in content
    assert [c.get("term") for c in entry.findall(f"{ATOM}category")] == ["ຂ່າວ"]


def test_names_and_texts_are_escaped(app, make_org, make_user):
    org = make_org("xss", "<script>alert(1)</script>")
    editor = make_user("editor@example.la", org, "editor")
    post = posts.create_post(org, editor, "<img src=x onerror=alert(1)>", summary="<i>cw</i>")
    for url in ("/", "/@xss", f"/@xss/{post.id}"):
        page = text_of(Web(app).get(url))
        assert "<script>alert" not in page and "<img src=x" not in page and "<i>cw" not in page
    response = Web(app).get("/@xss")
    assert "script-src" not in response.headers["Content-Security-Policy"]  # no scripts at all
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_search_and_tag_pages(app, org, editor):
    hit = posts.create_post(org, editor, "ພວກເຮົາປົກປ້ອງສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ #ສິດທິມະນຸດ")
    posts.create_post(org, editor, "ນ້ຳຖ້ວມ #ໄພພິບັດ")
    found = text_of(Web(app).get("/search?q=ມະນຸດ"))
    assert f'href="{hit.url}"' in found and "ນ້ຳຖ້ວມ" not in found
    assert "ບໍ່ພົບຫຍັງ" in text_of(Web(app).get("/search?q=ບໍ່ມີຄຳນີ້"))
    tagged = text_of(Web(app).get("/tags/ສິດທິມະນຸດ"))
    assert f'href="{hit.url}"' in tagged and "ນ້ຳຖ້ວມ" not in tagged


def test_pages_stay_under_100_kb(app, org, make_user):
    owner = make_user("owner@example.la", org, "owner", admin=True)
    long_text = ("ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ " * 150)[:4900]
    for _ in range(25):
        posts.create_post(org, owner, long_text + " #ສິດທິມະນຸດ")
    for _ in range(10):
        posts.create_post(org, owner, long_text, action="submit")
    web = Web(app)
    public_pages = ["/", "/@lao_cso", f"/@lao_cso/{posts.public_posts(org)[0].id}", "/tags/ສິດທິມະນຸດ",
                    "/search?q=ສິດທິ", "/login"]
    for url in public_pages:
        response = web.get(url)
        assert response.status_code == 200 and len(response.data) < MAX_PAGE_BYTES, (url, len(response.data))
    assert "ອ່ານທັງໝົດ" in text_of(web.get("/@lao_cso"))  # long posts are cut in lists, whole on their page
    web.signed_in_as(users.find_user("owner@example.la"))
    for url in ("/manage/lao_cso", "/manage/lao_cso/compose", "/manage/lao_cso/drafts",
                "/manage/lao_cso/review", "/manage/lao_cso/members", "/manage/lao_cso/profile", "/admin",
                "/settings"):
        response = web.get(url)
        assert response.status_code == 200 and len(response.data) < MAX_PAGE_BYTES, (url, len(response.data))
    css = web.get("/static/hub.css")
    fonts = [web.get(f"/static/fonts/NotoSansLao-{w}.woff2") for w in ("Regular", "Bold")]
    assert len(css.data) < 10_000 and all(f.status_code == 200 and len(f.data) < 20_000 for f in fonts)
    assert "font-display:swap" in text_of(css) and "fonts/NotoSansLao-Regular.woff2" in text_of(css)


def test_the_feed_reads_every_entry_s_tags_in_one_query(app, org, editor):
    posts.create_post(org, editor, "ຂ່າວ #ນ້ຳຖ້ວມ")
    one = statements_of(lambda: Web(app).get("/@lao_cso/feed.atom"))
    for n in range(12):
        posts.create_post(org, editor, f"ຂ່າວ {n} #ນ້ຳຖ້ວມ #ປ່າໄມ້")
    many = statements_of(lambda: Web(app).get("/@lao_cso/feed.atom"))
    assert len(many) == len(one), many
    feed = ET.fromstring(Web(app).get("/@lao_cso/feed.atom").data)
    assert sum(len(entry.findall(f"{ATOM}category")) for entry in feed.findall(f"{ATOM}entry")) == 25
