"""Blueprint: WebFinger, NodeInfo, actors, collections and inboxes (thin adapters over services)."""

from flask import Blueprint

bp = Blueprint("activitypub", __name__)
