"""The hub's own signing path, for the baselines: one Signer per key, one body per activity."""

import json

from federation.signatures import Signer, load_private_key
from hub.models import Actor

CONTENT_TYPE = "application/activity+json"


def signer_for(actor: Actor) -> Signer:
    """A Signer for a local actor (its PEM parsed once)."""
    return Signer(actor.key_id, load_private_key(actor.private_key_pem))


def body() -> bytes:
    """A Create{Note} of realistic size."""
    note = {"@context": "https://www.w3.org/ns/activitystreams", "id": "http://hub.bench/x/activity",
            "type": "Create", "actor": "http://hub.bench/actors/fanout",
            "object": {"type": "Note", "content": "<p>ນ້ຳຖ້ວມ: ກະລຸນາຍ້າຍໄປບ່ອນສູງ. Flood warning.</p>" * 3}}
    return json.dumps(note, ensure_ascii=False, separators=(",", ":")).encode()


def sign_post(signer: Signer, url: str, payload: bytes) -> dict:
    """Signed headers of a POST of payload to url."""
    return signer.sign("POST", url, body=payload, headers={"Content-Type": CONTENT_TYPE})
