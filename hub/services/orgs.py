"""Organisations and networks (local actors) and their staff memberships."""

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from federation.signatures import generate_key_pair
from hub.extensions import db
from hub.models import (
    APPLICATION,
    GROUP,
    ORGANIZATION,
    OWNER,
    ROLES,
    Actor,
    Membership,
    NetworkMember,
    User,
)
from hub.services import NotFound, PermissionDenied, ServiceError, audit, outbox, urls

HANDLE_RE = re.compile(r"^[a-z0-9_]{1,30}$")
RESERVED_HANDLES = {
    "actor", "actors", "admin", "api", "about", "inbox", "instance", "login", "logout", "media",
    "nodeinfo", "root", "search", "settings", "static", "support", "tags", "well-known", "www",
}
INSTANCE_HANDLE = "instance.actor"


def normalise_handle(handle: str) -> str:
    """Lower-case a handle and strip a leading @; raise ServiceError when it is not allowed."""
    handle = (handle or "").strip().lstrip("@").lower()
    if not HANDLE_RE.match(handle):
        raise ServiceError(_l("A handle is 1–30 characters: Latin letters a–z, digits and _."))
    if handle in RESERVED_HANDLES:
        raise ServiceError(_l("The handle “%(handle)s” is reserved.", handle=handle))
    return handle


def get_local_actor(handle: str) -> Actor | None:
    """The local actor with this handle, or None."""
    return db.session.scalar(select(Actor).where(
        Actor.domain.is_(None), func.lower(Actor.handle) == (handle or "").lower()))


def require_org(handle: str) -> Actor:
    """The local organisation or network with this handle, or NotFound."""
    actor = get_local_actor(handle)
    if actor is None or actor.type == APPLICATION:
        raise NotFound(_l("No organisation called “%(handle)s” on this hub.", handle=handle))
    return actor


def _new_local_actor(handle: str, name: str, actor_type: str) -> Actor:
    handle = normalise_handle(handle)
    if get_local_actor(handle):
        raise ServiceError(_l("The handle “%(handle)s” is already taken.", handle=handle))
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError(_l("A display name is required (at most 100 characters)."))
    private_pem, public_pem = generate_key_pair()
    uri = urls.actor_uri(handle)
    actor = Actor(
        type=actor_type, handle=handle, domain=None, uri=uri, url=urls.profile_url(handle),
        inbox=f"{uri}/inbox", shared_inbox=urls.shared_inbox_url(), outbox=f"{uri}/outbox",
        followers_url=f"{uri}/followers", following_url=f"{uri}/following", name=name,
        key_id=f"{uri}#main-key", public_key_pem=public_pem, private_key_pem=private_pem,
    )
    db.session.add(actor)
    return actor


def create_org(handle: str, name: str, *, created_by: User | None = None, commit: bool = True) -> Actor:
    """Create a CSO account (an Organization actor with a new RSA-2048 key pair)."""
    org = _new_local_actor(handle, name, ORGANIZATION)
    db.session.flush()
    audit.record(created_by, org, "org.create", detail=org.handle)
    if commit:
        db.session.commit()
    return org


def create_network(handle: str, name: str, *, created_by: User | None = None) -> Actor:
    """Create a network of organisations (a Group actor)."""
    network = _new_local_actor(handle, name, GROUP)
    db.session.flush()
    audit.record(created_by, network, "network.create", detail=network.handle)
    db.session.commit()
    return network


def add_to_network(network_handle: str, org_handle: str) -> NetworkMember:
    """Make an organisation a member of a network."""
    network = require_org(network_handle)
    if network.type != GROUP:
        raise ServiceError(_l("“%(handle)s” is not a network.", handle=network.handle))
    org = require_org(org_handle)
    if org.type != ORGANIZATION:
        raise ServiceError(_l("“%(handle)s” is not an organisation.", handle=org.handle))
    existing = db.session.scalar(select(NetworkMember).filter_by(network_id=network.id, member_id=org.id))
    if existing:
        return existing
    member = NetworkMember(network_id=network.id, member_id=org.id)
    db.session.add(member)
    db.session.commit()
    return member


def instance_actor() -> Actor:
    """The hub's Application actor, created on first use; it signs outgoing fetches."""
    actor = db.session.scalar(select(Actor).where(Actor.domain.is_(None), Actor.type == APPLICATION))
    if actor:
        return actor
    private_pem, public_pem = generate_key_pair()
    uri = urls.instance_actor_uri()
    actor = Actor(
        type=APPLICATION, handle=INSTANCE_HANDLE, domain=None, uri=uri, url=urls.base_url() + "/about",
        inbox=f"{uri}/inbox", shared_inbox=urls.shared_inbox_url(), outbox=f"{uri}/outbox",
        name=urls.local_domain(), key_id=f"{uri}#main-key", public_key_pem=public_pem,
        private_key_pem=private_pem, manually_approves_followers=True,
    )
    db.session.add(actor)
    db.session.commit()
    return actor


def update_profile(org: Actor, user: User, **fields) -> Actor:
    """Change an organisation's display name, bios, website and settings (owners only)."""
    require_role(user, org, OWNER)
    name = fields.get("name", org.name).strip()
    if not name or len(name) > 100:
        raise ServiceError(_l("A display name is required (at most 100 characters)."))
    website = (fields.get("website") or "").strip() or None
    if website and not re.match(r"^https?://[^\s/]+", website):
        raise ServiceError(_l("The website must start with http:// or https://."))
    for bio in ("bio_lo", "bio_en"):
        if len(fields.get(bio) or "") > 2000:
            raise ServiceError(_l("A bio is at most 2000 characters."))
    org.name, org.website = name, website
    org.bio_lo = (fields.get("bio_lo") or "").strip()
    org.bio_en = (fields.get("bio_en") or "").strip()
    for flag in ("manually_approves_followers", "discoverable", "show_follows", "requires_review"):
        if flag in fields:
            setattr(org, flag, bool(fields[flag]))
    if fields.get("default_language") in ("lo", "en"):
        org.default_language = fields["default_language"]
    audit.record(user, org, "org.update")
    outbox.actor_updated(org)
    db.session.commit()
    return org


# --- memberships -------------------------------------------------------------------------------

ROLE_RANK = {"contributor": 1, "editor": 2, "owner": 3}


def membership(user: User, org: Actor) -> Membership | None:
    """The user's membership of org, or None."""
    if user is None or org is None:
        return None
    return db.session.scalar(select(Membership).filter_by(user_id=user.id, org_id=org.id))


def role_of(user: User, org: Actor) -> str | None:
    """The user's role in org, or None when not a member."""
    found = membership(user, org)
    return found.role if found else None


def has_role(user: User, org: Actor, minimum: str) -> bool:
    """True when the user's role in org is at least `minimum` (owner > editor > contributor)."""
    role = role_of(user, org)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def require_role(user: User, org: Actor, minimum: str) -> str:
    """Return the user's role, or raise PermissionDenied when it is below `minimum`."""
    if not has_role(user, org, minimum):
        raise PermissionDenied(_l("You do not have permission to do this in this organisation."))
    return role_of(user, org)


def add_member(org: Actor, user: User, role: str, *, by: User | None = None,
               commit: bool = True) -> Membership:
    """Give a user a role in an organisation (or change it); takes effect at once."""
    if role not in ROLES:
        raise ServiceError(_l("Unknown role “%(role)s”: choose owner, editor or contributor.", role=role))
    if by is not None and not by.is_admin:
        require_role(by, org, OWNER)
    found = membership(user, org)
    if found is None:
        found = Membership(user_id=user.id, org_id=org.id, role=role)
        db.session.add(found)
    else:
        _keep_an_owner(org, found, role)
        found.role = role
    audit.record(by, org, "member.set_role", detail=f"{user.email}: {role}")
    if user.current_org_id is None:
        user.current_org_id = org.id
    if commit:
        db.session.commit()
    return found


def _keep_an_owner(org: Actor, changing: Membership, new_role: str | None) -> None:
    if changing.role != OWNER or new_role == OWNER:
        return
    owners = db.session.scalar(
        select(func.count()).select_from(Membership).filter_by(org_id=org.id, role=OWNER))
    if owners <= 1:
        raise ServiceError(_l("An organisation needs at least one owner."))


def remove_member(org: Actor, user: User, *, by: User) -> None:
    """Remove a user from an organisation; their next request no longer has access."""
    if not by.is_admin:
        require_role(by, org, OWNER)
    found = membership(user, org)
    if found is None:
        raise NotFound(_l("That person is not a member of this organisation."))
    _keep_an_owner(org, found, None)
    db.session.delete(found)
    if user.current_org_id == org.id:
        user.current_org_id = None
    audit.record(by, org, "member.remove", detail=user.email)
    db.session.commit()


def orgs_of(user: User) -> list[Actor]:
    """The organisations a user belongs to, by name."""
    return list(db.session.scalars(
        select(Actor).join(Membership, Membership.org_id == Actor.id)
        .where(Membership.user_id == user.id).order_by(Actor.name)))


def members_of(org: Actor) -> list[Membership]:
    """The memberships of an organisation, owners first."""
    rows = db.session.scalars(select(Membership).filter_by(org_id=org.id)).all()
    return sorted(rows, key=lambda m: (-ROLE_RANK[m.role], m.user.email))


def switch_org(user: User, org: Actor) -> None:
    """Make org the user's current organisation."""
    if membership(user, org) is None:
        raise PermissionDenied(_l("You are not a member of this organisation."))
    user.current_org_id = org.id
    db.session.commit()


def local_orgs(public_only: bool = True) -> list[Actor]:
    """Organisations and networks on this hub, by name."""
    query = select(Actor).where(Actor.domain.is_(None), Actor.type.in_((ORGANIZATION, GROUP)),
                                Actor.suspended.is_(False))
    return list(db.session.scalars(query.order_by(Actor.name)))
