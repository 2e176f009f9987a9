"""Writing posts: compose, an organisation's staff home, drafts, edit and delete."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from hub.models import Actor, Post
from hub.services import NotFound, PermissionDenied, ServiceError, posts
from hub.web import bp
from hub.web.common import before_id, fail, staff_org
from hub.web.forms import ConfirmForm, PostForm

PAGE = 20


def _done_message(post: Post) -> str:
    if post.state == "published":
        return _("Published.")
    if post.state == "pending":
        return _("Sent for review. An editor will publish it.")
    return _("Draft saved.")


def _after_save(org: Actor, post: Post):
    flash(_done_message(post), "success")
    if post.state == "published":
        return redirect(url_for("web.org_home", handle=org.handle))
    if post.state == "pending":
        return redirect(url_for("web.drafts", handle=org.handle))
    return redirect(url_for("web.drafts", handle=org.handle))


@bp.get("/manage/<handle>")
@login_required
def org_home(handle: str):
    """The organisation's staff home: what to do next and the latest published posts."""
    org = staff_org(handle)
    recent = posts.recent_published(org, before_id=before_id(), limit=PAGE)
    return render_template("staff/org_home.html", org=org, recent=recent.items,
                           drafts=posts.drafts(org, current_user), pending=posts.review_queue(org),
                           may_edit=posts.edit_rule(org, current_user),
                           older=recent.older, delete_form=ConfirmForm())


@bp.route("/manage/<handle>/compose", methods=["GET", "POST"])
@login_required
def compose(handle: str):
    """Write a post: editors publish at once, contributors submit it for review; anyone saves drafts."""
    org = staff_org(handle)
    form = PostForm(language=org.default_language)
    error = None
    if form.validate_on_submit():
        try:
            post = posts.create_post(org, current_user, form.source.data, language=form.language.data,
                                     visibility=form.visibility.data, summary=form.summary.data or "",
                                     action=form.action())
            return _after_save(org, post)
        except PermissionDenied:
            abort(403)
        except ServiceError as exc:
            error = fail(exc)
    status = 400 if error or form.errors else 200
    return render_template("staff/compose.html", org=org, form=form, error=error, post=None,
                           may_publish=posts.may_publish_directly(current_user, org)), status


@bp.get("/manage/<handle>/drafts")
@login_required
def drafts(handle: str):
    """Drafts and posts sent back by an editor (contributors see their own), and what waits for review."""
    org = staff_org(handle)
    mine_pending = [p for p in posts.review_queue(org) if p.author_user_id == current_user.id]
    return render_template("staff/drafts.html", org=org, drafts=posts.drafts(org, current_user),
                           pending=mine_pending)


def _editable(org: Actor, post_id: int) -> Post:
    try:
        post = posts.get_local_post(org, post_id)
    except NotFound:
        abort(404)
    if not posts.may_edit(post, current_user):
        abort(403)
    return post


@bp.route("/manage/<handle>/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit_post(handle: str, post_id: int):
    """Change a post; a published one keeps its earlier version and its audience."""
    org = staff_org(handle)
    post = _editable(org, post_id)
    form = PostForm(obj=post) if request.method == "GET" else PostForm()
    if post.state == "published":
        form.visibility.data = post.visibility
    error = None
    if form.validate_on_submit():
        try:
            posts.edit(post, current_user, form.source.data, language=form.language.data,
                       summary=form.summary.data or "",
                       visibility=None if post.state == "published" else form.visibility.data,
                       action=form.action())
            return _after_save(org, post)
        except PermissionDenied:
            abort(403)
        except ServiceError as exc:
            error = fail(exc)
    status = 400 if error or form.errors else 200
    return render_template("staff/compose.html", org=org, form=form, error=error, post=post,
                           may_publish=posts.may_publish_directly(current_user, org),
                           delete_form=ConfirmForm()), status


@bp.post("/manage/<handle>/posts/<int:post_id>/delete")
@login_required
def delete_post(handle: str, post_id: int):
    """Delete a post (a published one federates a Delete; its address then answers 410 Gone)."""
    org = staff_org(handle)
    post = _editable(org, post_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        posts.delete(post, current_user)
        flash(_("The post was deleted."), "success")
    except PermissionDenied:
        abort(403)
    except ServiceError as exc:
        flash(fail(exc), "error")
    return redirect(url_for("web.org_home", handle=org.handle))
