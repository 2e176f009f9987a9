"""Shared pieces of the web blueprint: the staff organisation guard, layout context, headers, errors."""

from urllib.parse import urlsplit

from flask import abort, current_app, g, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from hub.extensions import db
from hub.models import Actor
from hub.services import NotFound, ServiceError, orgs, posts, urls
from hub.web import bp

ROLE_LABELS = {"owner": _l("Owner"), "editor": _l("Editor"), "contributor": _l("Contributor")}
LANGUAGE_LABELS = {"lo": _l("Lao"), "en": _l("English")}
VISIBILITY_LABELS = {
    "public": _l("Public: anyone, listed on the profile"),
    "unlisted": _l("Unlisted: anyone with the link"),
    "followers": _l("Followers only"),
}
STATE_LABELS = {
    "draft": _l("Draft"), "pending": _l("Waiting for review"), "published": _l("Published"),
    "rejected": _l("Sent back"), "deleted": _l("Deleted"),
}


def staff_org(handle: str, minimum: str = "contributor") -> Actor:
    """The organisation when the signed-in person has at least `minimum` there (404/403 otherwise).

    Checked on every request, so a removed member or a lowered role takes effect at once.
    """
    try:
        org = orgs.require_org(handle)
    except NotFound:
        abort(404)
    if not orgs.has_role(current_user, org, minimum):
        abort(403)
    g.org = org
    return org


def current_org() -> Actor | None:
    """The organisation the page is about, else the member's current one (if still a member)."""
    if getattr(g, "org", None) is not None:
        return g.org
    if not current_user.is_authenticated:
        return None
    mine = orgs.orgs_of(current_user)
    return next((o for o in mine if o.id == current_user.current_org_id), None) or next(iter(mine), None)


def fail(exc: ServiceError) -> str:
    """A service's refusal as text for a form; rolled back, so nothing half-written stays."""
    db.session.rollback()
    return str(exc)


def before_id() -> int | None:
    """The `before` of a list's page: the id below which it starts (None: the newest)."""
    return request.args.get("before", type=int)


def safe_next(target: str | None) -> str | None:
    """A same-site path to go back to after signing in, or None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme not in ("", "http", "https") or (parts.netloc and parts.netloc != request.host):
        return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def avatar_url(actor: Actor) -> str | None:
    """Where an organisation's avatar is served, if it has one."""
    if actor.avatar is not None and actor.avatar.file_name:
        return urls.media_url(actor.avatar.file_name)
    return actor.icon_url


@bp.app_context_processor
def layout_context() -> dict:
    """Values every template may use: the locale, the member's organisations and role, labels."""
    context = {
        "get_locale": get_locale, "ROLE_LABELS": ROLE_LABELS, "LANGUAGE_LABELS": LANGUAGE_LABELS,
        "VISIBILITY_LABELS": VISIBILITY_LABELS, "STATE_LABELS": STATE_LABELS, "avatar_url": avatar_url,
        "local_domain": urls.local_domain,
    }
    if request and current_user and current_user.is_authenticated:
        org = current_org()
        role = orgs.role_of(current_user, org) if org is not None else None
        context.update(
            my_orgs=orgs.orgs_of(current_user), nav_org=org, nav_role=role,
            nav_pending=len(posts.review_queue(org)) if role in ("editor", "owner") else 0,
        )
    return context


@bp.after_app_request
def security_headers(response):
    """Strict headers on HTML pages: no scripts, no framing, no sniffing, same-origin referrers."""
    if response.mimetype == "text/html":
        media = current_app.config.get("HUB_MEDIA_URL") or ""
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' {media} https: data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _error_page(status: int, title, message):
    return render_template("error.html", status=status, title=title, message=message), status


@bp.errorhandler(403)
def forbidden(_error):
    """Not allowed here (also what a removed member sees)."""
    return _error_page(403, _l("Not allowed"),
                       _l("You do not have permission to see this page in this organisation."))


@bp.errorhandler(404)
def not_found(_error):
    """Nothing here."""
    return _error_page(404, _l("Not found"), _l("There is nothing at this address."))


@bp.errorhandler(410)
def gone(_error):
    """A deleted post."""
    return _error_page(410, _l("Deleted"), _l("This post was deleted."))


@bp.app_errorhandler(CSRFError)
def csrf_refused(_error):
    """A form without a valid CSRF token (expired page, or another site posting): nothing is done."""
    return _error_page(400, _l("Not allowed"), _l("The form expired. Please try again."))


@bp.errorhandler(413)
def too_large(_error):
    """An upload bigger than the server accepts."""
    return _error_page(413, _l("File too large"), _l("The file is too large."))
