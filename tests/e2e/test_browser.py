"""A real browser on a phone-sized screen: Debian's Chromium driven by Playwright (never a downloaded
browser) against the hub served for real over loopback (werkzeug in a thread, the test database).

A contributor writes a Lao post with a hashtag and submits it; an editor approves it; the post is
on the public profile and in the Atom feed; every page is in Lao with no English UI text, fits the
390-px viewport, and the Lao font comes from the hub itself."""

import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from hub.models import Post
from hub.services import users

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"  # as in tests/conftest.py
TEXT = "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ ພວກເຮົາຂໍເຊີນທຸກທ່ານຮ່ວມກິດຈະກຳວັນສິດທິມະນຸດ #ສິດທິມະນຸດ"
SHOTS = Path("/tmp")
# Latin words a Lao page may show: the product and app names, and the data of this test.
ALLOWED = {"cso", "hub", "atom", "mastodon", "lao", "example", "editor", "writer", "jpeg", "png", "webp"}

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_hub(app):
    """The test app served over HTTP on 127.0.0.1, with ids and links on that address."""
    port = _free_port()
    app.config.update(HUB_DOMAIN=f"127.0.0.1:{port}", HUB_SCHEME="http", SESSION_COOKIE_SECURE=False)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def browser():
    """Debian's Chromium, headless."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _phone(browser, base: str, requests: list[str]):
    context = browser.new_context(base_url=base, viewport=VIEWPORT, locale="lo-LA", device_scale_factor=2,
                                  is_mobile=True, has_touch=True,
                                  extra_http_headers={"Accept-Language": "lo"})
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    return page


def _check_lao_page(page, name: str) -> None:
    """In Lao, no English UI words, nothing wider than the phone."""
    assert page.evaluate("document.documentElement.lang") == "lo", name
    visible = page.evaluate("""() => {
        const selector = 'input[type=submit],input[type=button],[placeholder],[aria-label]';
        const labels = [...document.querySelectorAll(selector)]
            .map(e => [e.value, e.placeholder, e.getAttribute('aria-label')].filter(Boolean).join(' '));
        return document.body.innerText + ' ' + labels.join(' ');
    }""")
    words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", visible)} - ALLOWED
    assert words == set(), f"{name}: English on a Lao page: {sorted(words)}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"{name}: {width}px wide, the phone shows {VIEWPORT['width']}px"


def _sign_in(page, email: str) -> None:
    page.goto("/login")
    _check_lao_page(page, "sign-in")
    page.get_by_label("ອີເມວ").fill(email)
    page.get_by_label("ລະຫັດຜ່ານ").fill(PASSWORD)
    page.get_by_role("button", name="ເຂົ້າສູ່ລະບົບ").click()
    expect(page.get_by_role("navigation", name="ເມນູພະນັກງານ")).to_be_visible()


def _sign_out(page) -> None:
    page.get_by_role("button", name="ອອກຈາກລະບົບ").click()
    expect(page.get_by_text("ທ່ານອອກຈາກລະບົບແລ້ວ")).to_be_visible()


def test_contributor_writes_in_lao_editor_approves_public_sees_it(live_hub, browser, make_org, make_user):
    org = make_org("lao_cso", "ສະມາຄົມພັດທະນາຊຸມຊົນ")
    make_user("writer@example.la", org, "contributor")
    make_user("editor@example.la", org, "editor")
    requests: list[str] = []
    page = _phone(browser, live_hub, requests)

    _sign_in(page, "writer@example.la")
    page.get_by_role("link", name="ຂຽນ", exact=True).click()
    expect(page.get_by_role("heading", name="ຂຽນໂພສ")).to_be_visible()
    expect(page.get_by_role("button", name="ເຜີຍແຜ່", exact=True)).to_have_count(0)  # contributors submit
    page.get_by_label("ຂໍ້ຄວາມ").fill(TEXT)
    expect(page.get_by_role("radio", name="ພາສາລາວ")).to_be_checked()  # the organisation's language
    _check_lao_page(page, "compose")
    page.screenshot(path=str(SHOTS / "cso-hub-compose.png"), full_page=True)
    page.get_by_role("button", name="ສົ່ງໃຫ້ກວດກາ").click()
    expect(page.get_by_text("ສົ່ງໃຫ້ກວດກາແລ້ວ")).to_be_visible()
    _check_lao_page(page, "drafts")
    post = Post.query.one()
    assert post.state == "pending" and post.language == "lo"
    _sign_out(page)

    _sign_in(page, "editor@example.la")
    page.get_by_role("link", name=re.compile("^ກວດກາ")).click()
    expect(page.get_by_text("ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ")).to_be_visible()
    _check_lao_page(page, "review")
    page.screenshot(path=str(SHOTS / "cso-hub-review.png"), full_page=True)
    page.get_by_role("button", name="ອະນຸມັດ ແລະ ເຜີຍແຜ່").click()
    expect(page.get_by_text("ອະນຸມັດ ແລະ ເຜີຍແຜ່ແລ້ວ")).to_be_visible()
    _sign_out(page)

    page.goto("/@lao_cso")
    article = page.locator("article.post").first
    expect(article).to_contain_text("ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ")
    assert article.get_attribute("lang") == "lo"
    expect(article.get_by_role("link", name="#ສິດທິມະນຸດ")).to_be_visible()  # the hashtag stays whole
    _check_lao_page(page, "profile")
    page.evaluate("document.fonts.ready")
    assert page.evaluate("""document.fonts.check('16px "Hub Lao"', 'ສິດທິ')""")
    page.screenshot(path=str(SHOTS / "cso-hub-profile.png"), full_page=True)
    feed_href = page.locator('link[rel=alternate][type="application/atom+xml"]').get_attribute("href")

    feed = page.request.get(feed_href)
    assert feed.ok and feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.body()).findall("{http://www.w3.org/2005/Atom}entry")
    assert [e.findtext("{http://www.w3.org/2005/Atom}id") for e in entries] == [Post.query.one().uri]
    assert "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ" in entries[0].findtext("{http://www.w3.org/2005/Atom}content")

    hosts = {urlsplit(url).netloc for url in requests if url.startswith("http")}
    assert hosts == {urlsplit(live_hub).netloc}  # no CDN, no third party
    # This machine has Noto Sans Lao installed, so local() wins; a phone without it gets the hub's copy:
    status = page.evaluate("""async () => {
        const face = new FontFace('HubLaoCheck', 'url(/static/fonts/NotoSansLao-Regular.woff2)');
        await face.load();
        document.fonts.add(face);
        return [face.status, document.fonts.check('16px HubLaoCheck', 'ສິດທິ')];
    }""")
    assert status == ["loaded", True]
    assert users.find_user("writer@example.la").locale is None  # Lao came from the browser
