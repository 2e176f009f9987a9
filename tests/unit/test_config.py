"""Settings come from the environment and bad values fail at start-up with a clear message."""

import pytest

from hub.config import ConfigError, load_config


def test_delivery_settings_are_parsed_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HUB_DELIVERY_BATCH", "40")
    monkeypatch.setenv("HUB_DELIVERY_TIMEOUT", "2.5")
    config = load_config({"HUB_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})
    assert (config["HUB_DELIVERY_BATCH"], config["HUB_DELIVERY_TIMEOUT"]) == (40, 2.5)
    assert config["HUB_DELIVERY_PER_HOST"] == 8


@pytest.mark.parametrize(("name", "value"), [
    ("HUB_DELIVERY_BATCH", "many"), ("HUB_DELIVERY_TIMEOUT", "-1"), ("HUB_ARGON2_TIME_COST", "0"),
    ("HUB_SCHEME", "ftp"), ("HUB_ALLOW_PRIVATE_NETWORKS", "10.0.0.0/33"),
])
def test_bad_values_name_the_setting(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_config({"HUB_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})


def test_secure_cookies_follow_the_effective_scheme(tmp_path):
    config = load_config({"HUB_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x", "HUB_SCHEME": "http"})
    assert config["SESSION_COOKIE_SECURE"] is False
