"""The fediverse-pasture-inputs corpus (262 tricky Create{Note} payloads: bad HTML, odd
attachments, null ids, hashtags, mentions, languages …) sent to the hub's inbox over signed HTTP
from a fake peer: never a 500, never an unexpected error while processing, HTML sanitised.

The corpus is built by the pasture peer's own Python (`make peers`, which `make test` runs): its
package needs bovine, which pins an older `cryptography` than the hub's, so it stays out of the
hub's virtualenv."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from hub import convert
from hub.extensions import db
from hub.models import InboxItem, Post
from hub.services import inbox

REPO = Path(__file__).resolve().parents[2]
PASTURE_PYTHON = Path(os.environ.get("PEERS") or REPO / ".peers") / "pasture" / "bin" / "python"
UNSAFE = re.compile(r"<script|<iframe|<img|<style|<svg|<form|<input|<button|javascript:|\son[a-z]+\s*=",
                    re.IGNORECASE)
BUILD = """
import asyncio, json
from fediverse_pasture_inputs import available
from fediverse_pasture_inputs.tool.transformer import ExampleTransformer

async def build():
    transformer = ExampleTransformer()
    return [(f"{name}_{n}", await transformer.create_activity(example))
            for name, inputs in sorted(available.items()) for n, example in enumerate(inputs.examples)]

print(json.dumps(asyncio.run(build())))
"""


def _corpus() -> list[tuple[str, dict]]:
    if not PASTURE_PYTHON.exists():  # test_the_corpus_is_all_there fails and says why
        return []
    done = subprocess.run([PASTURE_PYTHON, "-c", BUILD], capture_output=True, text=True, timeout=120,
                          check=True)
    return [(name, activity) for name, activity in json.loads(done.stdout)]


CORPUS = _corpus()


def test_the_corpus_is_all_there():
    assert PASTURE_PYTHON.exists(), f"{PASTURE_PYTHON} is missing: run `make peers` (make test does)"
    assert len(CORPUS) >= 250


@pytest.mark.parametrize("name,activity", CORPUS, ids=[n for n, _ in CORPUS])
def test_each_object_parses_or_is_refused_cleanly(name, activity):
    try:
        note = convert.from_note(activity.get("object"))
    except convert.NotANote:
        return
    assert not UNSAFE.search(note.content_html)
    assert "<" not in note.summary


def test_whole_corpus_through_the_signed_inbox(client, org, peer):
    sender = peer.add_actor("actor", path="/actor")
    statuses = {}
    for name, activity in CORPUS:
        text = json.dumps(activity).replace("http://actor.example", sender.uri)
        text = text.replace("http://remote.example/", org.uri)
        response = sender.post_to(client, "/inbox", text.encode())
        statuses[name] = response.status_code
    assert set(statuses.values()) <= {202, 400}, {k: v for k, v in statuses.items() if v not in (202, 400)}
    assert list(statuses.values()).count(202) >= 250
    while inbox.process_due(100):
        pass
    items = db.session.scalars(select(InboxItem)).all()
    unexpected = {i.activity_uri: i.error for i in items if i.error.startswith(("error:", "retry:"))}
    assert unexpected == {}
    stored = db.session.scalars(select(Post).where(Post.local.is_(False))).all()
    assert len(stored) >= 200  # addressed to the organisation, so kept as mentions
    for post in stored:
        assert not UNSAFE.search(post.content_html), post.content_html
        assert "<" not in post.summary
