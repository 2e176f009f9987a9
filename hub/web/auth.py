"""Signing in and out, accepting an invitation, the member's settings and the organisation switcher."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from wtforms.fields.choices import SelectChoice

from hub.services import NotFound, ServiceError, orgs, users
from hub.web import bp
from hub.web.common import current_org, fail, safe_next
from hub.web.forms import (
    ConfirmForm,
    JoinForm,
    LanguageForm,
    NewAccountForm,
    PasswordForm,
    SignInForm,
    SwitchOrgForm,
)


def _after_sign_in() -> str:
    return safe_next(request.args.get("next")) or url_for("web.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def sign_in():
    """Sign in with e-mail and password; wrong passwords and throttling get clear messages."""
    if current_user.is_authenticated:
        return redirect(_after_sign_in())
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.email.data, form.password.data)
        except users.SignInThrottled:
            user, error = None, _("Too many attempts. Wait a few minutes and try again.")
        if user is not None:
            login_user(user)
            return redirect(_after_sign_in())
        error = error or _("The e-mail or the password is wrong.")
    status = 200 if error is None and not form.errors else 400
    return render_template("auth/sign_in.html", form=form, error=error), status


@bp.post("/logout")
def sign_out():
    """Sign out (a POST with a CSRF token, so another site cannot sign people out)."""
    if ConfirmForm().validate_on_submit():
        logout_user()
        flash(_("You are signed out."), "success")
    return redirect(url_for("web.home"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """A one-time invitation: join as the signed-in person, or create an account and join."""
    try:
        invite = users.find_invitation(token)
    except NotFound:
        return render_template("auth/invitation_invalid.html"), 404
    form = JoinForm() if current_user.is_authenticated else NewAccountForm()
    if request.method == "GET" and invite.email and not current_user.is_authenticated:
        form.email.data = invite.email
    error = None
    if form.validate_on_submit():
        try:
            if current_user.is_authenticated:
                user = users.accept_invitation(token, user=current_user)
            else:
                user = users.accept_invitation(token, email=form.email.data, password=form.password.data,
                                               display_name=form.display_name.data or "")
                login_user(user)
            orgs.switch_org(user, invite.org)
            flash(_("Welcome to %(org)s.", org=invite.org.name), "success")
            return redirect(url_for("web.dashboard"))
        except ServiceError as exc:
            error = fail(exc)
    status = 400 if error or form.errors else 200
    return render_template("auth/invitation.html", form=form, invite=invite, error=error), status


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """The member's interface language and password."""
    language = LanguageForm(prefix="lang", locale=current_user.locale or "lo")
    password = PasswordForm(prefix="pw")
    error = None
    if language.save_language.data and language.validate_on_submit():
        users.set_locale(current_user, language.locale.data)
        flash(_("Saved."), "success")
        return redirect(url_for("web.settings"))
    if password.save_password.data and password.validate_on_submit():
        try:
            if users.authenticate(current_user.email, password.current.data) is None:
                error = _("The current password is wrong.")
            else:
                users.set_password(current_user, password.new.data)
                login_user(current_user._get_current_object())  # re-sign in with the new generation
                flash(_("Your password is changed. Other devices are signed out."), "success")
                return redirect(url_for("web.settings"))
        except ServiceError as exc:
            error = fail(exc)
    status = 400 if error or language.errors or password.errors else 200
    return render_template("auth/settings.html", language=language, password=password,
                           error=error), status


@bp.post("/switch")
@login_required
def switch_org():
    """Make another of the member's organisations the current one."""
    form = SwitchOrgForm()
    form.org.choices = [SelectChoice(o.handle, o.name) for o in orgs.orgs_of(current_user)]
    if not form.validate_on_submit():
        abort(400)
    try:
        org = orgs.require_org(form.org.data)
        orgs.switch_org(current_user, org)
    except ServiceError:
        abort(403)
    return redirect(url_for("web.org_home", handle=org.handle))


@bp.get("/manage")
@login_required
def dashboard():
    """Where staff land: their current organisation, or the admin page, or a note that they have none."""
    org = current_org()
    if org is not None:
        return redirect(url_for("web.org_home", handle=org.handle))
    if current_user.is_admin:
        return redirect(url_for("web.admin_orgs"))
    return render_template("auth/no_org.html")
