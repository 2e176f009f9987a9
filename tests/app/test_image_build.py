"""The Docker image, built and run (`make image-check`; skipped in `make test`: building takes minutes
and needs root). Built by Docker or Podman from the project's Dockerfile, its file system runs as
docker-compose runs it (tests/app/image_engine.py says how and why): the migration, the default
command behind a TLS proxy, a member of staff who signs in, uploads a photo and publishes in Lao,
and the worker, all as the image's unprivileged user writing to its /data volume."""

import io
import os
import re
import signal
import subprocess
import uuid

import pytest
import requests
from databases import fresh_database
from gunicorn_support import free_port, http_status
from image_engine import ImageRoot, base_images, build, can_chroot, engine, ensure_base, export, inspect
from image_support import compose_command, compose_healthcheck_path, image_command, with_bind
from PIL import Image
from polling import tail, wait_for

from hub.gunicorn_worker import children

pytestmark = pytest.mark.skipif(os.environ.get("HUB_IMAGE_CHECK") != "1",
                                reason="builds the Docker image (minutes, as root): make image-check")
TAG = "cso-hub:image-check"
DOMAIN = "image.test"
DATABASE = os.environ.get("HUB_TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROXY = {"Host": DOMAIN, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
LAO_POST = "ນ້ຳຖ້ວມຢູ່ບ້ານນາ ກະລຸນາຍ້າຍໄປບ່ອນສູງ"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The image built for this module, its file system ready to run (which base it used is printed)."""
    tool = engine()
    if tool is None or not can_chroot():
        pytest.fail("needs Docker or Podman, and root (make image-check installs Podman)")
    work = tmp_path_factory.mktemp("image")
    bases = [ensure_base(tool, name, work) for name in base_images()]
    built = build(tool, TAG)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    export(tool, TAG, work / "rootfs")
    print(f"\nbuilt {TAG} with {tool}; base: {'; '.join(bases)}")
    with ImageRoot(work / "rootfs", inspect(tool, TAG)) as root:
        yield root


@pytest.fixture(scope="module")
def database():
    """A new, empty PostgreSQL database, as compose's db service starts."""
    with fresh_database(DATABASE, "hub_image") as url:
        yield url


@pytest.fixture(scope="module")
def settings(database) -> dict[str, str]:
    """What docker-compose.yml's environment adds to the image's."""
    return {"DATABASE_URL": database, "HUB_DOMAIN": DOMAIN, "HUB_SECRET_KEY": "image-check-secret",
            "HUB_TRUST_PROXY": "1"}


@pytest.fixture(scope="module")
def web(image, settings, tmp_path_factory):
    """Compose's migration, then the image's default command on a free port: (port, access log, process)."""
    migrated = subprocess.run(image.argv(compose_command("migrate"), settings),
                              capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    port, log = free_port(), tmp_path_factory.mktemp("web") / "web.log"
    command = with_bind(image_command(), f"127.0.0.1:{port}")
    with open(log, "wb") as output:
        server = subprocess.Popen(image.argv(command, settings), stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: http_status(port, compose_healthcheck_path()) == 200 or server.poll() is not None,
                 "the health check", timeout=120, logs=(log,))
        assert server.poll() is None, tail(log)
        yield port, log, server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def _hub(image: ImageRoot, settings, command: list[str], stdin: str | None = None) -> str:
    """Run a `hub` command in the image, as `docker compose run --rm -T web hub …` does: its output."""
    done = subprocess.run(image.argv(["hub", *command], settings), input=stdin, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _signed_in(port: int, image: ImageRoot, settings) -> requests.Session:
    """An organisation and its owner made with README's commands (the password on standard input),
    signed in as behind the proxy."""
    _hub(image, settings, ["org", "create", "demo", "--name", "ອົງການສາທິດ Demo CSO"])
    _hub(image, settings, ["user", "create", "owner@example.org", "--org", "demo"], stdin="a long password\n")
    session = _ProxiedSession(port)
    page = session.get("/login")
    answer = session.post("/login", data={"csrf_token": _token(page.text), "email": "owner@example.org",
                                          "password": "a long password"})
    assert answer.status_code == 302, answer.text[-2000:]
    return session


class _ProxiedSession(requests.Session):
    """Requests to the image's web port as a TLS proxy forwards them (secure cookies kept by hand)."""

    def __init__(self, port: int):
        super().__init__()
        self.base = f"http://127.0.0.1:{port}"

    def request(self, method, path, **kwargs):
        headers = {**PROXY, "Referer": f"https://{DOMAIN}{path}", **kwargs.pop("headers", {})}
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.cookies)
        if cookies:
            headers["Cookie"] = cookies
        kwargs["allow_redirects"] = False
        answer = super().request(method, self.base + path, headers=headers, **kwargs)
        for cookie in answer.cookies:
            self.cookies.set(cookie.name, cookie.value)
        return answer


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _photo_with_location() -> bytes:
    """A JPEG whose EXIF names the camera and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (17.0, 58.0, 0.0), 3: "E", 4: (102.0, 36.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_the_web_app_serves_with_the_images_processes_and_its_lao_catalog(web):
    port, log, server = web
    wait_for(lambda: len(children(server.pid)) == 2, "the image's two web processes (WEB_CONCURRENCY)",
             timeout=30, logs=(log,))
    page = requests.get(f"http://127.0.0.1:{port}/login", headers={**PROXY, "Accept-Language": "lo"},
                        timeout=10)
    assert "ເຂົ້າສູ່ລະບົບ" in page.text


def test_staff_sign_in_upload_a_photo_and_publish_in_lao_as_the_images_user(web, image, settings):
    port, log, _ = web
    session = _signed_in(port, image, settings)
    form = session.get("/manage/demo/profile")
    saved = session.post("/manage/demo/profile", data={
        "csrf_token": _token(form.text), "name": "ອົງການສາທິດ Demo CSO", "default_language": "lo", "save": "1"},
        files={"avatar": ("photo.jpg", _photo_with_location(), "image/jpeg")})
    assert saved.status_code == 302, saved.text[-2000:]
    stored = list(image.path(image.environment(settings)["HUB_MEDIA_DIR"]).iterdir())
    assert len(stored) == 1 and stored[0].stat().st_uid == image.user_ids()[0]
    assert not dict(Image.open(stored[0]).getexif())  # camera and location removed

    compose = session.get("/manage/demo/compose")
    published = session.post("/manage/demo/compose", data={
        "csrf_token": _token(compose.text), "source": LAO_POST, "language": "lo", "visibility": "public",
        "publish": "1"})
    assert published.status_code == 302, published.text[-2000:]
    profile = requests.get(f"http://127.0.0.1:{port}/@demo", headers=PROXY, timeout=10)
    assert LAO_POST in profile.text
    served = requests.get(f"http://127.0.0.1:{port}/media/{stored[0].name}", headers=PROXY, timeout=10)
    assert served.status_code == 200 and served.content == stored[0].read_bytes()


def test_the_worker_runs_from_the_image(image, settings, web):
    worker = subprocess.run([*image.argv(compose_command("worker"), settings), "--once"], capture_output=True,
                            text=True, timeout=300)
    assert worker.returncode == 0, worker.stderr[-3000:]


def test_the_access_log_names_requests_not_who_made_them(web):
    port, log, _ = web
    path = f"/no-such-page-{uuid.uuid4().hex}"  # the log shows paths without their query
    assert requests.get(f"http://127.0.0.1:{port}{path}", headers=PROXY, timeout=10).status_code == 404
    lines = wait_for(lambda: [line for line in log.read_text().splitlines() if path in line],
                     "the request in the access log", timeout=10, logs=(log,))
    assert lines[0].startswith(f"GET {path} 404 "), lines
    assert "203.0.113.9" not in lines[0] and "127.0.0.1" not in lines[0], lines


def test_a_volume_the_images_user_cannot_write_to_stops_the_web_app_with_its_name(image, settings):
    media = image.path(image.environment(settings)["HUB_MEDIA_DIR"])
    owner = media.stat()
    os.chown(media, 0, 0)  # e.g. a host folder mounted as the volume, left to root
    try:
        command = with_bind(image_command(), f"127.0.0.1:{free_port()}")
        started = subprocess.run(image.argv(command, settings), capture_output=True, text=True, timeout=60)
    finally:
        os.chown(media, owner.st_uid, owner.st_gid)
    assert started.returncode != 0
    assert f"HUB_MEDIA_DIR: {image.environment(settings)['HUB_MEDIA_DIR']} is not writable" in started.stderr
