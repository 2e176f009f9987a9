"""The review queue: editors approve pending posts or send them back with a note."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from hub.services import NotFound, ServiceError, posts
from hub.web import bp
from hub.web.common import fail, staff_org
from hub.web.forms import ReviewForm


@bp.get("/manage/<handle>/review")
@login_required
def review_queue(handle: str):
    """Posts waiting for an editor, oldest first, each with approve and send-back buttons."""
    org = staff_org(handle, "editor")
    return render_template("staff/review.html", org=org, queue=posts.review_queue(org), form=ReviewForm())


@bp.post("/manage/<handle>/review/<int:post_id>")
@login_required
def review_decide(handle: str, post_id: int):
    """Approve (publishes the post) or send back with a note."""
    org = staff_org(handle, "editor")
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_("The form expired or was incomplete. Please try again."), "error")
        return redirect(url_for("web.review_queue", handle=handle))
    try:
        post = posts.get_local_post(org, post_id)
        if form.approve.data:
            posts.approve(post, current_user)
            flash(_("Approved and published."), "success")
        elif form.reject.data:
            posts.reject(post, current_user, form.note.data or "")
            flash(_("Sent back to the author."), "success")
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(fail(exc), "error")
    return redirect(url_for("web.review_queue", handle=handle))
