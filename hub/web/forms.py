"""The staff interface's forms (Flask-WTF: every one carries a CSRF token), with translated messages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from hub.services.users import MIN_PASSWORD

REQUIRED = _l("Please fill in this field.")
TOO_LONG = _l("At most %(max)d characters.")
LANGUAGES = [SelectChoice("lo", _l("Lao")), SelectChoice("en", _l("English"))]
ROLES = [SelectChoice("contributor", _l("Contributor: writes posts that an editor reviews")),
         SelectChoice("editor", _l("Editor: publishes and reviews posts")),
         SelectChoice("owner", _l("Owner: also manages members and settings"))]
VISIBILITIES = [SelectChoice("public", _l("Public: anyone, listed on the profile")),
                SelectChoice("unlisted", _l("Unlisted: anyone with the link")),
                SelectChoice("followers", _l("Followers only"))]


class ConfirmForm(FlaskForm):
    """A button that changes something (delete, remove, sign out): the form only carries the CSRF token."""


class SignInForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(REQUIRED), Length(max=255, message=TOO_LONG)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED)])
    submit = SubmitField(_l("Sign in"))


class NewAccountForm(FlaskForm):
    """Accept an invitation with a new account."""

    display_name = StringField(_l("Your name"), validators=[Optional(), Length(max=128, message=TOO_LONG)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(REQUIRED), Length(max=255, message=TOO_LONG)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(REQUIRED),
        Length(min=MIN_PASSWORD, message=_l("A password needs at least %(min)d characters."))])
    confirm = PasswordField(_l("Password again"), validators=[
        DataRequired(REQUIRED), EqualTo("password", message=_l("The two passwords are not the same."))])
    submit = SubmitField(_l("Create my account and join"))


class JoinForm(FlaskForm):
    """Accept an invitation as the signed-in person."""

    submit = SubmitField(_l("Join"))


class LanguageForm(FlaskForm):
    """The member's interface language."""

    locale = RadioField(_l("Language of the interface"), choices=LANGUAGES,
                        validators=[DataRequired(REQUIRED)])
    save_language = SubmitField(_l("Save"))


class PasswordForm(FlaskForm):
    """Change one's password."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(REQUIRED)])
    new = PasswordField(_l("New password"), validators=[
        DataRequired(REQUIRED),
        Length(min=MIN_PASSWORD, message=_l("A password needs at least %(min)d characters."))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(REQUIRED), EqualTo("new", message=_l("The two passwords are not the same."))])
    save_password = SubmitField(_l("Change password"))


class SwitchOrgForm(FlaskForm):
    """Choose the organisation to work in."""

    org = SelectField(_l("Organisation"), validators=[DataRequired(REQUIRED)])
    switch = SubmitField(_l("Switch"))


class PostForm(FlaskForm):
    """Write or edit a post. Which button was pressed decides draft, review or publish."""

    source = TextAreaField(_l("Text"))
    language = RadioField(_l("Language of the post"), choices=LANGUAGES, validators=[DataRequired(REQUIRED)])
    summary = StringField(_l("Content warning (optional)"),
                          description=_l("Readers see this first and open the post to read it."),
                          validators=[Optional()])
    visibility = RadioField(_l("Who can see it"), choices=VISIBILITIES, default="public",
                            validators=[DataRequired(REQUIRED)])
    publish = SubmitField(_l("Publish"))
    submit_review = SubmitField(_l("Submit for review"))
    save_draft = SubmitField(_l("Save draft"))

    def action(self) -> str:
        """'publish', 'submit' or 'draft', from the button pressed."""
        if self.publish.data:
            return "publish"
        if self.submit_review.data:
            return "submit"
        return "draft"


class ReviewForm(FlaskForm):
    """Approve a pending post, or send it back with a note."""

    note = TextAreaField(_l("Note to the author (when sending back)"),
                         validators=[Optional(), Length(max=1000, message=TOO_LONG)])
    approve = SubmitField(_l("Approve and publish"))
    reject = SubmitField(_l("Send back"))


class RoleForm(FlaskForm):
    """Change a member's role."""

    role = SelectField(_l("Role"), choices=ROLES, validators=[DataRequired(REQUIRED)])
    change = SubmitField(_l("Change role"))


class InvitationForm(FlaskForm):
    """Invite someone to the organisation."""

    role = SelectField(_l("Role"), choices=ROLES, default="contributor",
                       validators=[DataRequired(REQUIRED)])
    email = EmailField(_l("Their e-mail (optional: only this address can use the link)"),
                       validators=[Optional(), Length(max=255, message=TOO_LONG)])
    create = SubmitField(_l("Create invitation link"))


class OrgProfileForm(FlaskForm):
    """An organisation's public profile and settings."""

    name = StringField(_l("Display name"),
                       validators=[DataRequired(REQUIRED), Length(max=100, message=TOO_LONG)])
    bio_lo = TextAreaField(_l("About the organisation, in Lao"),
                           validators=[Optional(), Length(max=2000, message=TOO_LONG)])
    bio_en = TextAreaField(_l("About the organisation, in English"),
                           validators=[Optional(), Length(max=2000, message=TOO_LONG)])
    website = StringField(_l("Website"), validators=[Optional(), Length(max=2000, message=TOO_LONG)])
    avatar = FileField(_l("Picture (JPEG, PNG or WebP; location data is removed)"), validators=[
        FileAllowed(["jpg", "jpeg", "png", "webp", "gif"], _l("Choose a JPEG, PNG, WebP or GIF picture."))])
    default_language = RadioField(_l("Usual language of posts"), choices=LANGUAGES,
                                  validators=[DataRequired(REQUIRED)])
    manually_approves_followers = BooleanField(_l("Approve each new follower by hand"))
    show_follows = BooleanField(_l("Show followers and follows publicly"))
    discoverable = BooleanField(_l("Let other servers suggest this account in directories"))
    requires_review = BooleanField(_l("Every post needs review by a second editor"))
    save = SubmitField(_l("Save"))


class CreateOrgForm(FlaskForm):
    """The instance administrator creates an organisation and invites its first owner."""

    handle = StringField(_l("Handle (Latin letters a–z, digits and _)"),
                         validators=[DataRequired(REQUIRED), Length(max=30, message=TOO_LONG)])
    name = StringField(_l("Display name"),
                       validators=[DataRequired(REQUIRED), Length(max=100, message=TOO_LONG)])
    owner_email = EmailField(_l("First owner's e-mail (optional)"),
                             validators=[Optional(), Length(max=255, message=TOO_LONG)])
    create = SubmitField(_l("Create organisation"))
