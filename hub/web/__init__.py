"""Blueprint: public pages and the staff interface (HTML)."""

from flask import Blueprint, g
from flask_babel import lazy_gettext as _l

from hub.extensions import login_manager
from hub.services import users

bp = Blueprint("web", __name__)


@bp.record_once
def _setup_login(state) -> None:
    """Sessions: Flask-Login loads the member from 'id:generation' and sends strangers to sign in."""
    login_manager.user_loader(_load_member)
    login_manager.login_view = "web.sign_in"
    login_manager.login_message = _l("Sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.localize_callback = str  # the lazy message, in the visitor's language
    state.app.jinja_env.trim_blocks = state.app.jinja_env.lstrip_blocks = True  # lighter pages


def _load_member(session_id: str):
    """The signed-in member, their language kept aside for a page that must not read the database
    again (hub.outage: a failed commit expires what was loaded)."""
    member = users.load_session_user(session_id)
    g.member_locale = member.locale if member is not None else None
    return member


# Route modules register on bp (imported last: they import bp from here).
from hub.web import (  # noqa: E402,F401
    admin,
    auth,
    common,
    compose,
    org_admin,
    public,
    review,
    social,
)
