"""Blueprint: public pages and the staff interface (HTML)."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from hub.web import social  # noqa: E402,F401  (fediverse staff pages register on bp)
