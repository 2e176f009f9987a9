"""Blueprint: WebFinger, NodeInfo, actors, collections and inboxes (thin adapters over services)."""

from flask import Blueprint

from hub.extensions import csrf

bp = Blueprint("activitypub", __name__)
csrf.exempt(bp)  # peers POST signed JSON, not forms

from hub.activitypub import actors, discovery, inboxes  # noqa: E402,F401  (routes register on bp)
