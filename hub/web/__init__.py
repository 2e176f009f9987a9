"""Blueprint: public pages and the staff interface (HTML)."""

from flask import Blueprint

bp = Blueprint("web", __name__)
