"""Fixtures of the federation tests: fake peers on loopback and an organisation with an owner."""

import pytest
from fakepeer import FakePeer

from hub.services import users


@pytest.fixture
def peers():
    """Factory: peers('127.0.0.5') starts a fake server; all are stopped after the test."""
    started = []

    def start(host: str = "127.0.0.5", **kwargs) -> FakePeer:
        peer = FakePeer(host, **kwargs).start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def peer(peers):
    """One fake Mastodon-like server at 127.0.0.5."""
    return peers("127.0.0.5")


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


@pytest.fixture
def owner(org, make_user):
    """An owner of the organisation."""
    return users.find_user("owner@example.org") or make_user("owner@example.org", org=org)
