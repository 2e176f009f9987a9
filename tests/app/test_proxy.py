"""HUB_TRUST_PROXY: behind a TLS reverse proxy the hub sees the scheme and host the visitor used."""

import pytest
from flask import request

from hub import create_app
from hub.config import ConfigError, load_config


def _app(tmp_path, **config):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "HUB_DOMAIN": "hub.example",
                      "HUB_INSTANCE_DIR": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://", **config})
    app.add_url_rule("/_seen", "seen", lambda: f"{request.scheme} {request.host} {request.is_secure}")
    return app.test_client()


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hub.example",
             "X-Forwarded-For": "203.0.113.9"}


def test_forwarded_headers_count_when_the_proxy_is_trusted(tmp_path):
    """With HUB_TRUST_PROXY=1 the proxy's X-Forwarded-Proto and -Host are what the app sees."""
    seen = _app(tmp_path, HUB_TRUST_PROXY=1).get("/_seen", headers={"Host": "127.0.0.1:8000", **FORWARDED})
    assert seen.text == "https hub.example True"


def test_forwarded_headers_are_ignored_by_default(tmp_path):
    """Without HUB_TRUST_PROXY anyone could claim https or another host, so the headers are ignored."""
    seen = _app(tmp_path).get("/_seen", headers={"Host": "127.0.0.1:8000", **FORWARDED})
    assert seen.text == "http 127.0.0.1:8000 False"


@pytest.mark.parametrize("value", ["yes", "-1"])
def test_a_malformed_proxy_count_is_refused(monkeypatch, value):
    """HUB_TRUST_PROXY must be a number of proxies."""
    monkeypatch.setenv("HUB_TRUST_PROXY", value)
    with pytest.raises(ConfigError):
        load_config({"SECRET_KEY": "t"})
