"""Why a follow, boost or like failed, told to staff in their language (Lao first), in words they
can act on: no URLs of exceptions, no English on a Lao page; the command line stays in English."""

import socket

import pytest
from flask import g
from sqlalchemy import select

from federation import errors as federation_errors
from hub import convert
from hub.extensions import db, login_manager
from hub.models import Follow
from hub.services import ServiceError, remote, social, users

NOT_FOUND_LO = "ເຊີບເວີຂອງມັນແຈ້ງວ່າບໍ່ມີ ຫຼື ຖືກລຶບແລ້ວ"


@pytest.fixture
def lao_staff(app, client, owner):
    """The owner signed in, reading the site in Lao."""
    app.config.update(WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "lo"
    if login_manager._user_callback is None:
        login_manager.user_loader(users.load_session_user)
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session["_user_id"] = owner.get_id()
        session["_fresh"] = True
    return client


def _flash(client, action: str, target: str) -> str:
    response = client.post(f"/manage/lao_cso/{action}", data={"target": target}, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _closed_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def test_an_unknown_account_is_explained_in_lao(lao_staff, peer):
    page = _flash(lao_staff, "follow", f"@ghost@{peer.netloc}")
    assert f"ບໍ່ພົບ @ghost@{peer.netloc}: {NOT_FOUND_LO}." in page
    assert "HTTP 404" not in page and "could not" not in page
    assert db.session.scalar(select(Follow)) is None


def test_a_missing_post_and_an_account_address_are_explained(lao_staff, peer):
    page = _flash(lao_staff, "boost", f"{peer.base}/notes/gone")
    assert f"ບໍ່ພົບໂພສ: {NOT_FOUND_LO}." in page
    alice = peer.add_actor("alice")
    page = _flash(lao_staff, "like", alice.uri)
    assert "ບໍ່ພົບໂພສ: ທີ່ຢູ່ນີ້ບໍ່ແມ່ນໂພສ." in page


def test_a_refusing_server_and_an_unreachable_one(lao_staff, peer):
    peer.serve("/notes/private", {"error": "forbidden"}, status=403)
    assert "ເຊີບເວີຂອງມັນບໍ່ອະນຸຍາດໃຫ້ເວັບໄຊນີ້ອ່ານ" in _flash(lao_staff, "boost", f"{peer.base}/notes/private")
    dead = f"http://127.0.0.9:{_closed_port('127.0.0.9')}/notes/1"
    assert "ຕິດຕໍ່ເຊີບເວີຂອງມັນບໍ່ໄດ້; ກະລຸນາລອງໃໝ່ພາຍຫຼັງ" in _flash(lao_staff, "boost", dead)


def test_mistakes_of_the_staff_member_are_in_lao(lao_staff, org):
    assert "ອົງການບໍ່ສາມາດຕິດຕາມຕົນເອງໄດ້." in _flash(lao_staff, "follow", org.uri)
    assert "ອົງການບໍ່ໄດ້ຕິດຕາມບັນຊີນີ້." in _flash(lao_staff, "unfollow", org.uri)
    assert "ກະລຸນາວາງທີ່ຢູ່ (URL) ຂອງໂພສ." in _flash(lao_staff, "boost", "ໂພສນີ້")
    assert "ພິມບັນຊີເປັນ @ຊື່@ເຊີບເວີ" in _flash(lao_staff, "follow", "ອົງການ")


def test_the_command_line_and_the_log_keep_english(app, org, peer):
    with pytest.raises(ServiceError) as raised:
        social.follow(org, f"@ghost@{peer.netloc}")
    assert str(raised.value) == (f"@ghost@{peer.netloc} could not be found: "
                                 "its server says it does not exist or was deleted.")


@pytest.mark.parametrize(("cause", "status", "words"), [
    (federation_errors.HTTPStatusError(410), 410, "does not exist or was deleted"),
    (federation_errors.HTTPStatusError(401), 401, "does not let this hub read it"),
    (federation_errors.HTTPStatusError(500), 500, "an error (HTTP 500); try again later"),
    (federation_errors.Timeout("deadline passed"), None, "did not answer in time"),
    (federation_errors.Unresolvable("no such name"), None, "name was not found"),
    (federation_errors.UnsafeAddress("10.0.0.1"), None, "private network"),
    (convert.NotAnActor("a Note"), None, "not an account"),
    (federation_errors.IdMismatch("id elsewhere"), None, "sent something this hub cannot use"),
])
def test_each_kind_of_failure_has_its_reason(app, cause, status, words):
    try:
        raise remote.FetchError("technical detail", status) from cause
    except remote.FetchError as exc:
        assert words in str(remote.reason(exc))
