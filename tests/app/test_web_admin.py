"""Owners' pages (members, invitations, profile and avatar) and the instance administrator's page."""

import email
import email.policy
import io
import re
import socketserver
import threading

import pytest
from PIL import Image
from web_support import Web, text_of

from hub.models import Actor, Invitation, Media
from hub.services import orgs, users


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


@pytest.fixture
def owner(app, org, make_user):
    """A signed-in owner's browser."""
    make_user("owner@example.la", org, "owner")
    web = Web(app)
    web.signed_in_as(users.find_user("owner@example.la"))
    return web


def _jpeg_with_gps() -> bytes:
    """A real JPEG whose EXIF carries a camera make and a GPS position (Vientiane)."""
    image = Image.new("RGB", (1200, 800), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1  # Orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (17.0, 58.0, 0.0), 3: "E", 4: (102.0, 36.0, 0.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"taken at the office")
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the fixture really has GPS
    return data


def test_owner_changes_roles_but_an_org_keeps_an_owner(app, org, owner, make_user):
    member = make_user("staff@example.la", org, "contributor")
    page = text_of(owner.get("/manage/lao_cso/members"))
    assert "staff@example.la" in page and "owner@example.la" in page
    owner.submit(f"/manage/lao_cso/members/{member.id}/role", {f"m{member.id}-role": "owner"},
                 page="/manage/lao_cso/members")
    assert orgs.role_of(member, org) == "owner"
    me = users.find_user("owner@example.la")
    owner.submit(f"/manage/lao_cso/members/{me.id}/remove", {}, page="/manage/lao_cso/members")
    assert orgs.role_of(me, org) is None  # another owner remains, so leaving is allowed
    assert owner.get("/manage/lao_cso/members").status_code == 403
    last = Web(app)
    last.signed_in_as(users.find_user("staff@example.la"))
    refused = last.submit(f"/manage/lao_cso/members/{member.id}/role", {f"m{member.id}-role": "editor"},
                          page="/manage/lao_cso/members")
    assert "ອົງການຕ້ອງມີເຈົ້າຂອງຢ່າງໜ້ອຍໜຶ່ງຄົນ" in text_of(last.get(refused.headers["Location"]))
    assert orgs.role_of(member, org) == "owner"


def test_editors_cannot_manage_members_or_settings(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    editor = Web(app)
    editor.signed_in_as(users.find_user("editor@example.la"))
    for url in ("/manage/lao_cso/members", "/manage/lao_cso/invitations", "/manage/lao_cso/profile",
                "/admin"):
        assert editor.get(url).status_code == 403, url
    assert "ທ່ານບໍ່ມີສິດເບິ່ງໜ້ານີ້" in text_of(editor.get("/manage/lao_cso/members"))


def test_an_invitation_link_is_shown_once(owner):
    page = owner.submit("/manage/lao_cso/invitations", {"role": "editor", "email": ""})
    link = re.search(r'value="(http://hub\.test/invite/[^"]+)"', text_of(page)).group(1)
    token = link.rsplit("/", 1)[1]
    assert token not in text_of(owner.get("/manage/lao_cso/invitations"))
    stored = Invitation.query.one()
    assert stored.role == "editor" and token not in stored.token_hash  # only its hash is kept


def test_profile_settings_show_on_the_public_page(app, owner):
    saved = owner.submit("/manage/lao_cso/profile", {
        "name": "ສະມາຄົມ <ທົດລອງ>", "bio_lo": "ພວກເຮົາປົກປ້ອງສິດທິມະນຸດ", "bio_en": "We defend human rights",
        "website": "https://cso.example.la", "default_language": "en", "show_follows": "y"})
    assert saved.status_code == 302
    org = Actor.query.filter_by(handle="lao_cso").one()
    assert org.default_language == "en" and org.show_follows and not org.manually_approves_followers
    page = text_of(Web(app).get("/@lao_cso"))
    assert "ສະມາຄົມ &lt;ທົດລອງ&gt;" in page
    assert '<p class="bio p-note" lang="lo">ພວກເຮົາປົກປ້ອງສິດທິມະນຸດ</p>' in page
    assert '<p class="bio p-note" lang="en">We defend human rights</p>' in page
    assert 'href="https://cso.example.la"' in page


def test_a_bad_website_is_refused_and_nothing_changes(owner):
    response = owner.submit("/manage/lao_cso/profile", {
        "name": "ຊື່ໃໝ່", "website": "javascript:alert(1)", "default_language": "lo"})
    assert response.status_code == 400 and "http:// ຫຼື https://" in text_of(response)
    assert Actor.query.filter_by(handle="lao_cso").one().name == "ອົງການທົດລອງ"


def test_an_uploaded_avatar_loses_its_exif_and_gps(app, owner):
    original = _jpeg_with_gps()
    saved = owner.submit("/manage/lao_cso/profile", {
        "name": "ອົງການທົດລອງ", "default_language": "lo",
        "avatar": (io.BytesIO(original), "photo.jpg", "image/jpeg")}, content_type="multipart/form-data")
    assert saved.status_code == 302
    media = Media.query.one()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}\.jpg", media.file_name) and "photo" not in media.file_name
    page = text_of(Web(app).get("/@lao_cso"))
    assert f'src="http://hub.test/media/{media.file_name}"' in page
    served = Web(app).get(f"/media/{media.file_name}", headers={"Accept": "application/activity+json"})
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(served.data))
    assert image.format == "JPEG" and max(image.size) == 400
    assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
    assert b"PhoneMaker" not in served.data and b"taken at the office" not in served.data


def test_a_file_that_is_not_an_image_is_refused(owner):
    response = owner.submit("/manage/lao_cso/profile", {
        "name": "ອົງການທົດລອງ", "default_language": "lo",
        "avatar": (io.BytesIO(b'{"type": "Note"}'), "evil.png", "image/png")},
        content_type="multipart/form-data")
    assert response.status_code == 400 and "ໄຟລ໌ນີ້ບໍ່ແມ່ນຮູບພາບທີ່ອ່ານໄດ້" in text_of(response)
    assert Media.query.count() == 0


def test_media_names_are_only_ours(app, owner):
    for name in ("../secret_key", "x.json", "a.html", "short.jpg"):
        assert Web(app).get(f"/media/{name}").status_code == 404


def test_the_admin_creates_an_organisation_and_invites_its_first_owner(app, make_user):
    make_user("admin@example.la", admin=True)
    admin = Web(app)
    admin.signed_in_as(users.find_user("admin@example.la"))
    assert admin.get("/manage").headers["Location"] == "/admin"
    page = admin.submit("/admin", {"handle": "Women_Union", "name": "ສະຫະພັນແມ່ຍິງ", "owner_email": ""})
    assert page.status_code == 200
    link = re.search(r'value="http://hub\.test(/invite/[^"]+)"', text_of(page)).group(1)
    org = orgs.require_org("women_union")
    assert org.name == "ສະຫະພັນແມ່ຍິງ" and org.public_key_pem
    newcomer = Web(app)
    newcomer.submit(link, {"email": "chair@example.la", "password": "a long enough password",
                           "confirm": "a long enough password"})
    assert orgs.role_of(users.find_user("chair@example.la"), org) == "owner"


@pytest.mark.parametrize("handle, message", [
    ("taken", "ຊື່ບັນຊີ “taken” ມີຜູ້ໃຊ້ແລ້ວ"),
    ("not a handle!", "ອັກສອນລາຕິນ a–z"),
    ("admin", "ຖືກສະຫງວນໄວ້"),
])
def test_bad_or_duplicate_handles_create_nothing(app, make_org, make_user, handle, message):
    make_org("taken", "ມີແລ້ວ")
    make_user("admin@example.la", admin=True)
    admin = Web(app)
    admin.signed_in_as(users.find_user("admin@example.la"))
    response = admin.submit("/admin", {"handle": handle, "name": "ອົງການໃໝ່", "owner_email": "x@example.la"})
    assert response.status_code == 400 and message in text_of(response)
    assert 'value="ອົງການໃໝ່"' in text_of(response)
    assert Actor.query.count() == 1 and Invitation.query.count() == 0


def test_a_bad_owner_address_creates_no_organisation(app, make_user):
    make_user("admin@example.la", admin=True)
    admin = Web(app)
    admin.signed_in_as(users.find_user("admin@example.la"))
    response = admin.submit("/admin", {"handle": "newcso", "name": "ອົງການໃໝ່",
                                       "owner_email": "not-an-address"})
    assert response.status_code == 400
    assert orgs.get_local_actor("newcso") is None


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321, no TLS, no auth) to receive one message on loopback."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self._say("220 sink ready")
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ")[0].upper()
            if verb == "DATA":
                self._say("354 go on")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.server.messages.append(body.decode())
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


def test_an_invitation_is_mailed_when_smtp_is_configured(app, owner):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app.config["HUB_SMTP_URL"] = f"smtp://127.0.0.1:{server.server_address[1]}"
        invited = owner.submit("/manage/lao_cso/invitations", {"role": "editor", "email": "new@example.la"})
        page = text_of(invited)
        link = re.search(r'value="(http://hub\.test/invite/[^"]+)"', page).group(1)
        assert "ລິ້ງນີ້ຍັງຖືກສົ່ງທາງອີເມວນຳອີກ" in page
        assert len(server.messages) == 1
        message = email.message_from_string(server.messages[0], policy=email.policy.default)
        assert message["To"] == "new@example.la" and link in message.get_content()
    finally:
        server.shutdown()
        server.server_close()
