"""Signing in and out, CSRF, invitations, removed members, role changes, settings and the switcher,
driven through the HTML forms as a browser would (Lao interface unless said otherwise)."""

import re

import pytest
from web_support import Web, text_of

from hub.models import Post
from hub.services import orgs, users


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


def test_sign_in_and_out(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    web = Web(app)
    assert web.get("/manage/lao_cso/compose").status_code == 302
    response = web.sign_in("editor@example.la")
    assert response.status_code == 302 and response.headers["Location"] == "/manage"
    page = web.get("/manage/lao_cso/compose")
    assert page.status_code == 200 and "ຂຽນໂພສ" in text_of(page)
    assert web.sign_out().status_code == 302
    assert web.get("/manage/lao_cso/compose").status_code == 302
    assert "ທ່ານອອກຈາກລະບົບແລ້ວ" in text_of(web.get("/"))


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    web = Web(app)
    asked = web.get("/manage/lao_cso/drafts")
    login_url = asked.headers["Location"]
    assert "ກະລຸນາເຂົ້າສູ່ລະບົບ" in text_of(web.get(login_url))
    response = web.submit(login_url, {"email": "editor@example.la", "password": "correct horse battery"})
    assert response.headers["Location"] == "/manage/lao_cso/drafts"
    web.sign_out()
    evil = web.submit("/login?next=https://evil.example/phish", {"email": "editor@example.la",
                                                                 "password": "correct horse battery"},
                      page="/login")
    assert evil.headers["Location"] == "/manage"


def test_wrong_password_gets_a_clear_message(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    web = Web(app)
    response = web.sign_in("editor@example.la", "not the password")
    assert response.status_code == 400
    assert "ອີເມວ ຫຼື ລະຫັດຜ່ານບໍ່ຖືກຕ້ອງ" in text_of(response)
    assert 'value="editor@example.la"' in text_of(response)  # the form stays filled in
    assert web.get("/manage").status_code == 302
    unknown = web.sign_in("nobody@example.la")
    assert "ອີເມວ ຫຼື ລະຫັດຜ່ານບໍ່ຖືກຕ້ອງ" in text_of(unknown)


def test_repeated_wrong_passwords_are_throttled(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    web = Web(app)
    for _ in range(users.FREE_ATTEMPTS):
        web.sign_in("editor@example.la", "guess guess guess")
    response = web.sign_in("editor@example.la")  # even the right password waits now
    assert response.status_code == 400
    assert "ພະຍາຍາມຫຼາຍຄັ້ງເກີນໄປ" in text_of(response)
    assert web.get("/manage").status_code == 302


def test_forms_without_a_csrf_token_are_refused(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    web = Web(app)
    response = web.client.post("/login", data={"email": "editor@example.la",
                                               "password": "correct horse battery"})
    assert response.status_code == 400 and web.get("/manage").status_code == 302
    web.sign_in("editor@example.la")
    forged = web.client.post("/manage/lao_cso/compose", data={
        "source": "ໂພສປອມ", "language": "lo", "visibility": "public", "publish": "1"},
        headers=web.headers)
    assert forged.status_code == 400
    assert "ແບບຟອມໝົດອາຍຸແລ້ວ" in text_of(forged)
    assert Post.query.count() == 0
    web.client.post("/logout")  # no token: still signed in
    assert web.get("/manage/lao_cso").status_code == 200


def _invite(app, owner_email: str, role: str, email: str = "") -> str:
    owner = Web(app)
    owner.sign_in(owner_email)
    page = owner.submit("/manage/lao_cso/invitations", {"role": role, "email": email})
    assert page.status_code == 200, text_of(page)
    return re.search(r'value="http://hub\.test(/invite/[^"]+)"', text_of(page)).group(1)


def test_an_invitation_link_works_once(app, org, make_user):
    make_user("owner@example.la", org, "owner")
    link = _invite(app, "owner@example.la", "contributor")
    newcomer = Web(app)
    assert "ເຂົ້າຮ່ວມ ອົງການທົດລອງ" in text_of(newcomer.get(link))
    short = newcomer.submit(link, {"display_name": "ນາງ ແກ້ວ", "email": "kaeo@example.la",
                                   "password": "short", "confirm": "short"})
    assert short.status_code == 400 and "ຢ່າງໜ້ອຍ 10 ຕົວອັກສອນ" in text_of(short)
    assert users.find_user("kaeo@example.la") is None
    joined = newcomer.submit(link, {"display_name": "ນາງ ແກ້ວ", "email": "kaeo@example.la",
                                    "password": "a long enough password",
                                    "confirm": "a long enough password"})
    assert joined.status_code == 302
    kaeo = users.find_user("kaeo@example.la")
    assert orgs.role_of(kaeo, org) == "contributor"
    assert newcomer.get("/manage/lao_cso/compose").status_code == 200
    again = Web(app).get(link)
    assert again.status_code == 404 and "ລິ້ງເຊີນນີ້ໃຊ້ບໍ່ໄດ້" in text_of(again)


def test_a_signed_in_member_joins_another_organisation_and_switches(app, org, make_org, make_user):
    make_user("owner@example.la", org, "owner")
    other = make_org("forest_net", "ເຄືອຂ່າຍປ່າໄມ້")
    someone = make_user("staff@example.la", other, "editor")
    link = _invite(app, "owner@example.la", "editor")
    web = Web(app)
    web.sign_in("staff@example.la")
    assert web.submit(link, {}).status_code == 302
    assert orgs.role_of(someone, org) == "editor"
    assert web.get("/manage").headers["Location"] == "/manage/lao_cso"
    page = text_of(web.get("/manage/lao_cso"))
    assert 'value="forest_net"' in page and 'value="lao_cso" selected' in page
    assert web.submit("/switch", {"org": "forest_net"}, page="/manage/lao_cso").status_code == 302
    assert web.get("/manage").headers["Location"] == "/manage/forest_net"
    refused = web.submit("/switch", {"org": "nobodys_org"}, page="/manage/lao_cso")
    assert refused.status_code == 400


def test_an_invitation_for_one_address_refuses_another(app, org, make_user):
    make_user("owner@example.la", org, "owner")
    link = _invite(app, "owner@example.la", "editor", email="right@example.la")
    web = Web(app)
    wrong = web.submit(link, {"email": "wrong@example.la", "password": "a long enough password",
                              "confirm": "a long enough password"})
    assert wrong.status_code == 400 and "ອີເມວອື່ນ" in text_of(wrong)
    assert users.find_user("wrong@example.la") is None


def test_a_removed_members_open_session_is_refused_at_once(app, org, make_user):
    make_user("owner@example.la", org, "owner")
    contributor = make_user("writer@example.la", org, "contributor")
    writer = Web(app)
    writer.sign_in("writer@example.la")
    token = writer.token("/manage/lao_cso/compose")
    owner = Web(app)
    owner.sign_in("owner@example.la")
    removed = owner.submit(f"/manage/lao_cso/members/{contributor.id}/remove", {},
                           page="/manage/lao_cso/members")
    assert removed.status_code == 302 and orgs.role_of(contributor, org) is None
    assert writer.get("/manage/lao_cso/compose").status_code == 403
    late = writer.client.post("/manage/lao_cso/compose", data={
        "csrf_token": token, "source": "ຍັງຂຽນໄດ້ບໍ?", "language": "lo", "visibility": "public",
        "submit_review": "1"})
    assert late.status_code == 403 and Post.query.count() == 0


def test_role_changes_take_effect_at_once(app, org, make_user):
    make_user("owner@example.la", org, "owner")
    member = make_user("writer@example.la", org, "contributor")
    writer = Web(app)
    writer.sign_in("writer@example.la")
    assert writer.get("/manage/lao_cso/review").status_code == 403
    assert 'name="publish"' not in text_of(writer.get("/manage/lao_cso/compose"))
    owner = Web(app)
    owner.sign_in("owner@example.la")
    changed = owner.submit(f"/manage/lao_cso/members/{member.id}/role", {f"m{member.id}-role": "editor"},
                           page="/manage/lao_cso/members")
    assert changed.status_code == 302 and orgs.role_of(member, org) == "editor"
    assert writer.get("/manage/lao_cso/review").status_code == 200
    assert 'name="publish"' in text_of(writer.get("/manage/lao_cso/compose"))
    assert writer.get("/manage/lao_cso/members").status_code == 403  # still not an owner


def test_the_interface_language_follows_the_members_setting(app, org, make_user):
    make_user("editor@example.la", org, "editor", locale="en")
    web = Web(app)  # the browser asks for Lao, but the member chose English
    web.sign_in("editor@example.la")
    assert "Write a post" in text_of(web.get("/manage/lao_cso/compose"))
    saved = web.submit("/settings", {"lang-locale": "lo", "lang-save_language": "1"})
    assert saved.status_code == 302
    assert "ຂຽນໂພສ" in text_of(web.get("/manage/lao_cso/compose"))
    assert users.find_user("editor@example.la").locale == "lo"
    assert "Organisations on this hub" in text_of(Web(app, accept_language="en-GB,en;q=0.8").get("/"))


def test_changing_the_password_signs_out_other_devices(app, org, make_user):
    make_user("editor@example.la", org, "editor")
    phone, laptop = Web(app), Web(app)
    phone.sign_in("editor@example.la")
    laptop.sign_in("editor@example.la")
    wrong = phone.submit("/settings", {"pw-current": "not it at all", "pw-new": "a new long password",
                                       "pw-confirm": "a new long password", "pw-save_password": "1"})
    assert wrong.status_code == 400 and "ລະຫັດຜ່ານປັດຈຸບັນບໍ່ຖືກຕ້ອງ" in text_of(wrong)
    done = phone.submit("/settings", {"pw-current": "correct horse battery", "pw-new": "a new long password",
                                      "pw-confirm": "a new long password", "pw-save_password": "1"})
    assert done.status_code == 302
    assert phone.get("/manage/lao_cso").status_code == 200
    assert laptop.get("/manage/lao_cso").status_code == 302
    assert users.authenticate("editor@example.la", "a new long password") is not None
