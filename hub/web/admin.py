"""The instance administrator's page: create organisations and invite their first owners."""

from flask import abort, render_template
from flask_login import current_user, login_required

from hub.services import NotFound, ServiceError, orgs, users
from hub.web import bp
from hub.web.common import fail
from hub.web.forms import ConfirmForm, CreateOrgForm
from hub.web.org_admin import invitation_link, mail_invitation


def _require_admin() -> None:
    if not current_user.is_admin:
        abort(403)


def _page(form: CreateOrgForm, *, link=None, link_org=None, mailed=False, error=None, status=200):
    return render_template("admin/orgs.html", form=form, orgs=orgs.local_orgs(), invite_form=ConfirmForm(),
                           link=link, link_org=link_org, mailed=mailed, error=error), status


@bp.route("/admin", methods=["GET", "POST"])
@login_required
def admin_orgs():
    """List the hub's organisations; create one and get a one-time link for its first owner."""
    _require_admin()
    form = CreateOrgForm()
    if not form.validate_on_submit():
        return _page(form, status=400 if form.errors else 200)
    email = form.owner_email.data or None
    try:
        if email:
            users.normalise_email(email)
        org = orgs.create_org(form.handle.data, form.name.data, created_by=current_user, commit=False)
        token = users.create_invitation(org, "owner", by=current_user, email=email)  # commits both
    except ServiceError as exc:
        return _page(form, error=fail(exc), status=400)
    link = invitation_link(token)
    return _page(CreateOrgForm(formdata=None), link=link, link_org=org,
                 mailed=mail_invitation(org, email, link))


@bp.post("/admin/<handle>/invite-owner")
@login_required
def admin_invite_owner(handle: str):
    """A new one-time owner invitation for an existing organisation."""
    _require_admin()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        org = orgs.require_org(handle)
        token = users.create_invitation(org, "owner", by=current_user)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return _page(CreateOrgForm(formdata=None), error=fail(exc), status=400)
    return _page(CreateOrgForm(formdata=None), link=invitation_link(token), link_org=org)
