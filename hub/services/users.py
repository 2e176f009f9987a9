"""Staff accounts: creation, passwords, sign-in throttling and one-time invitations."""

import hashlib
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import ROLES, Actor, Invitation, User
from hub.models.base import utcnow
from hub.services import NotFound, ServiceError, audit, orgs

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
FREE_ATTEMPTS = 5
INVITATION_DAYS = 7
_hashers: dict[tuple[int, int], PasswordHasher] = {}


def _hasher() -> PasswordHasher:
    """Argon2id with the configured cost (HUB_ARGON2_TIME_COST, HUB_ARGON2_MEMORY_KIB)."""
    cost = (current_app.config["HUB_ARGON2_TIME_COST"], current_app.config["HUB_ARGON2_MEMORY_KIB"])
    if cost not in _hashers:
        _hashers[cost] = PasswordHasher(time_cost=cost[0], memory_cost=cost[1])
    return _hashers[cost]


def normalise_email(email: str) -> str:
    """Lower-case and check an e-mail address."""
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 255:
        raise ServiceError(_l("Enter a valid e-mail address."))
    return email


def check_password_strength(password: str) -> None:
    """Refuse passwords that are too short."""
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError(_l("A password needs at least %(min)d characters.", min=MIN_PASSWORD))


def any_user() -> bool:
    """True once any staff account exists."""
    return db.session.scalar(select(User.id).limit(1)) is not None


def find_user(email: str) -> User | None:
    """The user with this e-mail address, or None."""
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


def create_user(email: str, password: str, *, display_name: str = "", is_admin: bool = False,
                locale: str | None = None, commit: bool = True) -> User:
    """Create a staff account with an Argon2id password hash."""
    email = normalise_email(email)
    check_password_strength(password)
    if find_user(email):
        raise ServiceError(_l("An account for %(email)s already exists.", email=email))
    user = User(email=email, password_hash=_hasher().hash(password), display_name=display_name.strip()[:128],
                is_admin=is_admin, locale=locale if locale in ("lo", "en") else None)
    db.session.add(user)
    db.session.flush()
    audit.record(None, None, "user.create", detail=email)
    if commit:
        db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    """Change a password and sign the user out everywhere else."""
    check_password_strength(password)
    user.password_hash = _hasher().hash(password)
    user.session_generation += 1
    db.session.commit()


class SignInThrottled(ServiceError):
    """Too many wrong passwords for this account; try again later."""


def authenticate(email: str, password: str) -> User | None:
    """Return the user when the password is right; throttle repeated failures per account."""
    user = find_user(email)
    if user is None:
        _hasher().hash(password or "x")  # same cost whether or not the account exists
        return None
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        raise SignInThrottled(_l("Too many attempts. Wait a few minutes and try again."))
    try:
        _hasher().verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= FREE_ATTEMPTS:
            # Each further failure doubles the wait, up to an hour.
            delay = min(60 * 60, 30 * 2 ** (user.failed_logins - FREE_ATTEMPTS))
            user.locked_until = now + timedelta(seconds=delay)
        db.session.commit()
        return None
    if not user.active:
        return None
    user.failed_logins, user.locked_until = 0, None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    db.session.commit()
    return user


def load_session_user(session_id: str) -> User | None:
    """Flask-Login loader: 'id:generation' must match, so bumped generations end old sessions."""
    try:
        user_id, generation = (int(part) for part in session_id.split(":"))
    except (ValueError, AttributeError):
        return None
    user = db.session.get(User, user_id)
    if user is None or user.session_generation != generation or not user.active:
        return None
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invitation(org: Actor, role: str, *, by: User, email: str | None = None) -> str:
    """Make a one-time invitation; returns the secret token (shown once, only its hash is kept)."""
    if role not in ROLES:
        raise ServiceError(_l("Choose owner, editor or contributor."))
    if not by.is_admin:
        orgs.require_role(by, org, "owner")
    token = secrets.token_urlsafe(24)
    db.session.add(Invitation(
        token_hash=_token_hash(token), org_id=org.id, role=role,
        email=normalise_email(email) if email else None, created_by_id=by.id,
        expires_at=utcnow() + timedelta(days=INVITATION_DAYS)))
    audit.record(by, org, "invitation.create", detail=role)
    db.session.commit()
    return token


def find_invitation(token: str) -> Invitation:
    """The open invitation for this token, or NotFound when unknown, used or expired."""
    invitation = db.session.scalar(select(Invitation).filter_by(token_hash=_token_hash(token or "")))
    if invitation is None or invitation.used_at is not None or invitation.expires_at < utcnow():
        raise NotFound(_l("This invitation link is not valid: it was used already or has expired."))
    return invitation


def accept_invitation(token: str, *, user: User | None = None, email: str = "", password: str = "",
                      display_name: str = "") -> User:
    """Join the invitation's organisation, as the signed-in user or a new account."""
    invitation = find_invitation(token)
    if user is None:
        if invitation.email and normalise_email(email) != invitation.email:
            raise ServiceError(_l("This invitation was made for another e-mail address."))
        user = create_user(email, password, display_name=display_name, commit=False)
    orgs.add_member(invitation.org, user, invitation.role, commit=False)
    invitation.used_at, invitation.used_by_id = utcnow(), user.id
    db.session.commit()
    return user


def set_locale(user: User, locale: str) -> None:
    """Set the member's interface language (lo or en)."""
    if locale not in ("lo", "en"):
        raise ServiceError(_l("Choose Lao or English."))
    user.locale = locale
    db.session.commit()
