"""Settings come from the environment and bad values fail at start-up with a clear message."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from hub.config import ConfigError, check_folders, load_config


def test_delivery_settings_are_parsed_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HUB_DELIVERY_BATCH", "40")
    monkeypatch.setenv("HUB_DELIVERY_TIMEOUT", "2.5")
    config = load_config({"HUB_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})
    assert (config["HUB_DELIVERY_BATCH"], config["HUB_DELIVERY_TIMEOUT"]) == (40, 2.5)
    assert config["HUB_DELIVERY_PER_HOST"] == 8


@pytest.mark.parametrize(("name", "value"), [
    ("HUB_DELIVERY_BATCH", "many"), ("HUB_DELIVERY_TIMEOUT", "-1"), ("HUB_ARGON2_TIME_COST", "0"),
    ("HUB_SCHEME", "ftp"), ("HUB_ALLOW_PRIVATE_NETWORKS", "10.0.0.0/33"),
    ("HUB_KEEP_RECEIVED_DAYS", "a week"), ("HUB_KEEP_DELIVERIES_DAYS", "-30"),
])
def test_bad_values_name_the_setting(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_config({"HUB_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})


def test_secure_cookies_follow_the_effective_scheme(tmp_path):
    config = load_config({"HUB_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x", "HUB_SCHEME": "http"})
    assert config["SESSION_COOKIE_SECURE"] is False


def _check_as_another_user(config: dict) -> str:
    """check_folders' error (or "") in a forked child that runs as `nobody` when this is root."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.close(read)
        message = ""
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            check_folders(config)
        except ConfigError as exc:
            message = str(exc)
        finally:
            os.write(write, message.encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        message = answer.read()
    os.waitpid(child, 0)
    return message


@pytest.fixture
def open_folder():
    """A temporary folder any user may enter (pytest's own are the owner's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="hub-folders-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_folders_the_hub_cannot_write_to_stop_it_with_their_name(open_folder):
    instance, media = open_folder / "instance", open_folder / "media"
    instance.mkdir()
    instance.chmod(0o777)
    media.mkdir()
    media.chmod(0o555)  # e.g. a volume owned by another user
    message = _check_as_another_user({"HUB_INSTANCE_DIR": str(instance), "HUB_MEDIA_DIR": str(media)})
    assert message.startswith(f"HUB_MEDIA_DIR: {media} is not writable by this process"), message
    media.chmod(0o777)
    assert _check_as_another_user({"HUB_INSTANCE_DIR": str(instance), "HUB_MEDIA_DIR": str(media)}) == ""


def test_a_folder_that_cannot_be_created_is_named(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    config = {"HUB_INSTANCE_DIR": str(tmp_path / "file" / "instance"), "HUB_MEDIA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="HUB_INSTANCE_DIR: cannot create or reach"):
        check_folders(config)


def test_missing_folders_are_created(tmp_path):
    config = {"HUB_INSTANCE_DIR": str(tmp_path / "a" / "instance"),
              "HUB_MEDIA_DIR": str(tmp_path / "b" / "media")}
    check_folders(config)
    assert (tmp_path / "a" / "instance").is_dir() and (tmp_path / "b" / "media").is_dir()
