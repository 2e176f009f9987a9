"""Owners' pages: members and their roles, one-time invitations, the organisation's profile settings."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from hub.extensions import db
from hub.models import Actor, User
from hub.services import ServiceError, mail, media, orgs, urls, users
from hub.web import bp
from hub.web.common import fail, staff_org
from hub.web.forms import ConfirmForm, InvitationForm, OrgProfileForm, RoleForm


def invitation_link(token: str) -> str:
    """The absolute one-time link for an invitation token."""
    return urls.base_url() + url_for("web.invitation", token=token)


def mail_invitation(org: Actor, email: str | None, link: str) -> bool:
    """Send the link by mail when SMTP is configured and an address was given."""
    if not email or not mail.configured():
        return False
    subject = _("Invitation to %(org)s on CSO Hub", org=org.name)
    body = _("You are invited to work with %(org)s. Open this link (it works once, for 7 days):",
             org=org.name)
    return mail.send(email, subject, f"{body}\n\n{link}\n")


def _member(org: Actor, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or orgs.membership(user, org) is None:
        abort(404)
    return user


@bp.get("/manage/<handle>/members")
@login_required
def members(handle: str):
    """The organisation's members with their roles (owners change and remove them)."""
    org = staff_org(handle, "owner")
    rows = [(m, RoleForm(prefix=f"m{m.user_id}", role=m.role)) for m in orgs.members_of(org)]
    return render_template("staff/members.html", org=org, rows=rows, remove_form=ConfirmForm())


@bp.post("/manage/<handle>/members/<int:user_id>/role")
@login_required
def member_role(handle: str, user_id: int):
    """Change a member's role; it takes effect on their next request."""
    org = staff_org(handle, "owner")
    user = _member(org, user_id)
    form = RoleForm(prefix=f"m{user_id}")
    if not form.validate_on_submit():
        flash(_("The form expired or was incomplete. Please try again."), "error")
    else:
        try:
            orgs.add_member(org, user, form.role.data, by=current_user)
            flash(_("Role changed."), "success")
        except ServiceError as exc:
            flash(fail(exc), "error")
    return redirect(url_for("web.members", handle=handle))


@bp.post("/manage/<handle>/members/<int:user_id>/remove")
@login_required
def member_remove(handle: str, user_id: int):
    """Remove a member; their open sessions lose access to this organisation at once."""
    org = staff_org(handle, "owner")
    user = _member(org, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        orgs.remove_member(org, user, by=current_user)
        flash(_("Member removed."), "success")
    except ServiceError as exc:
        flash(fail(exc), "error")
    if user.id == current_user.id:
        return redirect(url_for("web.dashboard"))
    return redirect(url_for("web.members", handle=handle))


@bp.route("/manage/<handle>/invitations", methods=["GET", "POST"])
@login_required
def invitations(handle: str):
    """Create a one-time invitation link (shown once; mailed too when SMTP is configured)."""
    org = staff_org(handle, "owner")
    form = InvitationForm()
    link = error = None
    mailed = False
    if form.validate_on_submit():
        try:
            email = form.email.data or None
            token = users.create_invitation(org, form.role.data, by=current_user, email=email)
            link = invitation_link(token)
            mailed = mail_invitation(org, form.email.data, link)
        except ServiceError as exc:
            error = fail(exc)
    status = 400 if error or form.errors else 200
    return render_template("staff/invitations.html", org=org, form=form, link=link, mailed=mailed,
                           error=error), status


@bp.route("/manage/<handle>/profile", methods=["GET", "POST"])
@login_required
def org_profile(handle: str):
    """The organisation's public profile and settings, with an avatar upload."""
    org = staff_org(handle, "owner")
    form = OrgProfileForm(obj=org)
    error = None
    if form.validate_on_submit():
        try:
            upload = form.avatar.data
            if upload and getattr(upload, "filename", ""):
                media.set_avatar(org, current_user, upload.read(media.MAX_UPLOAD_BYTES + 1), commit=False)
            orgs.update_profile(org, current_user, **{
                name: getattr(form, name).data for name in (
                    "name", "bio_lo", "bio_en", "website", "default_language", "manually_approves_followers",
                    "show_follows", "discoverable", "requires_review")})
            flash(_("Saved."), "success")
            return redirect(url_for("web.org_profile", handle=handle))
        except ServiceError as exc:
            error = fail(exc)
    status = 400 if error or form.errors else 200
    return render_template("staff/org_profile.html", org=org, form=form, error=error), status
