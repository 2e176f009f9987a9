"""Staff pages for the fediverse side of an organisation: notifications, follow requests,
followers (owners only), following, follow/boost/like by handle or URL, and per-post delivery status.

Routes live under /manage/<handle>/…; every page checks the signed-in member's role.
"""

from urllib.parse import urlencode

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from hub.models import Follow
from hub.services import (
    NotFound,
    PermissionDenied,
    ServiceError,
    documents,
    notifications,
    orgs,
    reach,
    social,
)
from hub.web import bp
from hub.web.common import before_id

ACTIONS = {
    "follow": (social.follow, _l("Following requested: it becomes active when the account accepts.")),
    "unfollow": (social.unfollow, _l("Unfollowed.")),
    "boost": (social.boost, _l("Boosted to your followers.")),
    "unboost": (social.unboost, _l("Boost removed.")),
    "like": (social.like, _l("Liked.")),
    "unlike": (social.unlike, _l("Like removed.")),
}


NOTIFICATIONS_PER_PAGE = 50


def _render(template: str, **context) -> str:
    """Render a social page inside the site layout (base.html), or a bare one until it exists."""
    layout = current_app.jinja_env.select_template(["base.html", "social/_fallback.html"])
    return render_template(template, layout=layout, **context)


def _org(handle: str, minimum: str = "contributor"):
    """The organisation, when the signed-in member has at least this role (else 404/403)."""
    try:
        org = orgs.require_org(handle)
    except NotFound:
        abort(404)
    if not orgs.has_role(current_user, org, minimum):
        abort(403)
    return org


def _back(handle: str, endpoint: str = "web.social_fediverse"):
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for(endpoint, handle=handle))


@bp.get("/manage/<handle>/notifications")
@login_required
def social_notifications(handle: str):
    """Followers, follow requests, replies, mentions, boosts and likes, newest first."""
    org = _org(handle)
    page = notifications.for_org(org, limit=NOTIFICATIONS_PER_PAGE, before_id=before_id())
    unread = {n.id for n in page.items if n.read_at is None}
    return _render("social/notifications.html", org=org, items=page.items, unread=unread, page=page,
                           pending=social.follow_request_count(org, user=current_user)
                           if orgs.has_role(current_user, org, "editor") else 0)


@bp.post("/manage/<handle>/notifications/read")
@login_required
def social_notifications_read(handle: str):
    """Mark every notification read."""
    org = _org(handle)
    notifications.mark_all_read(org)
    return redirect(url_for("web.social_notifications", handle=handle))


@bp.get("/manage/<handle>/follow-requests")
@login_required
def social_follow_requests(handle: str):
    """Follow requests waiting for approval (editors and owners)."""
    org = _org(handle, "editor")
    return _render("social/follow_requests.html", org=org,
                           requests=social.followers(org, user=current_user, state=Follow.PENDING,
                                                     before_id=before_id()))


@bp.post("/manage/<handle>/follow-requests/<int:follow_id>/<any(approve, reject):decision>")
@login_required
def social_follow_request_answer(handle: str, follow_id: int, decision: str):
    """Approve or reject one follow request."""
    org = _org(handle, "editor")
    try:
        if decision == "approve":
            social.approve_follow(org, follow_id, user=current_user)
            flash(_("Follow request approved."), "success")
        else:
            social.reject_follow(org, follow_id, user=current_user)
            flash(_("Follow request rejected."), "success")
    except ServiceError as exc:
        flash(str(exc), "error")
    return redirect(url_for("web.social_follow_requests", handle=handle))


@bp.get("/manage/<handle>/followers")
@login_required
def social_followers(handle: str):
    """The organisation's followers: owners only (follower lists are private by default)."""
    org = _org(handle, "owner")
    return _render("social/followers.html", org=org,
                           followers=social.followers(org, user=current_user, before_id=before_id()))


@bp.post("/manage/<handle>/followers/<int:follow_id>/remove")
@login_required
def social_follower_remove(handle: str, follow_id: int):
    """Remove a follower (a Reject is sent to it)."""
    org = _org(handle, "owner")
    try:
        social.remove_follower(org, follow_id, user=current_user)
        flash(_("Follower removed."), "success")
    except ServiceError as exc:
        flash(str(exc), "error")
    return redirect(url_for("web.social_followers", handle=handle))


@bp.get("/manage/<handle>/fediverse")
@login_required
def social_fediverse(handle: str):
    """Follow an account, boost or like a post by its address, and see whom the org follows."""
    org = _org(handle)
    return _render("social/fediverse.html", org=org, following=social.following(org, before_id=before_id()),
                           may_act=orgs.has_role(current_user, org, "editor"),
                           prefill=request.args.get("uri", "")[:2048])


@bp.post("/manage/<handle>/<any(follow, unfollow, boost, unboost, like, unlike):action>")
@login_required
def social_action(handle: str, action: str):
    """Run one of the fediverse actions on a handle or URL typed by staff."""
    org = _org(handle, "editor")
    target = (request.form.get("target") or "").strip()[:2048]
    operation, message = ACTIONS[action]
    try:
        operation(org, target, user=current_user)
        flash(str(message), "success")  # the lazy text, in the member's language
    except PermissionDenied:
        abort(403)
    except ServiceError as exc:
        flash(str(exc), "error")
    return _back(handle)


@bp.get("/manage/<handle>/posts/<int:post_id>/deliveries")
@login_required
def social_deliveries(handle: str, post_id: int):
    """Where a post was delivered, and what is still pending or failed."""
    org = _org(handle)
    post = documents.local_post(org.handle, post_id)
    if post is None:
        abort(404)
    report = reach.delivery_report(post, request.args.get("page", 1, type=int) or 1)
    return _render("social/deliveries.html", org=org, post=post, report=report, counts=social.counts(post))


@bp.get("/authorize_interaction")
@login_required
def authorize_interaction():
    """The WebFinger subscribe template: open the fediverse page of the member's organisation."""
    org_id = getattr(current_user, "current_org_id", None)
    org = next((o for o in orgs.orgs_of(current_user) if o.id == org_id), None) or \
        next(iter(orgs.orgs_of(current_user)), None)
    if org is None:
        abort(403)
    query = urlencode({"uri": request.args.get("uri", "")[:2048]})
    return redirect(url_for("web.social_fediverse", handle=org.handle) + "?" + query)
