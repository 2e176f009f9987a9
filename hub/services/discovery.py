"""What the hub tells other servers about itself: WebFinger, host-meta and NodeInfo documents."""

from datetime import timedelta
from urllib.parse import unquote, urlsplit

from sqlalchemy import func, select

from federation import webfinger as federation_webfinger
from hub.extensions import db
from hub.models import APPLICATION, GROUP, ORGANIZATION, Actor, Post
from hub.models.base import utcnow
from hub.models.post import PUBLISHED
from hub.services import orgs, urls

SOFTWARE = "cso-hub"
VERSION = "0.1.0"
REPOSITORY = "https://github.com/cso-hub/cso-hub"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/{}"
NODEINFO_VERSIONS = ("2.0", "2.1")


class BadResource(ValueError):
    """The WebFinger resource is missing or malformed (400)."""


def _same_host(host: str) -> bool:
    return host.lower().rstrip(".") == urls.local_domain().lower()


def _actor_from_url(resource: str) -> Actor | None:
    base = urls.base_url()
    parts = urlsplit(resource)
    if not _same_host(parts.netloc):
        return None
    path = unquote(parts.path).rstrip("/")
    if path in ("", "/actor") or resource.rstrip("/") == base:
        return orgs.instance_actor()
    for prefix in ("/actors/", "/@"):
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return orgs.get_local_actor(path[len(prefix):])
    return None


def find_resource(resource: str | None) -> Actor | None:
    """The local actor a WebFinger resource names (acct:, bare user@host, actor or profile URL)."""
    resource = (resource or "").strip()
    if not resource:
        raise BadResource("resource is required")
    if len(resource) > 2048:
        raise BadResource("resource is too long")
    if resource.lower().startswith(("http://", "https://")):
        actor = _actor_from_url(resource)
    else:
        if resource.lower().startswith("acct:"):
            resource = resource[5:]
        elif ":" in resource.split("@", 1)[0]:
            return None  # mailto: and other schemes name nothing here
        user, _, host = unquote(resource).lstrip("@").rpartition("@")
        if not user or not _same_host(host):
            return None
        actor = orgs.get_local_actor(user)
        if actor is None and user.lower() in (orgs.INSTANCE_HANDLE, urls.local_domain().split(":")[0]):
            actor = orgs.instance_actor()
    if actor is None or actor.suspended or actor.domain is not None:
        return None
    return actor


def webfinger(actor: Actor) -> dict:
    """The JRD of a local actor."""
    profile = actor.url or actor.uri
    template = f"{urls.base_url()}/authorize_interaction?uri={{uri}}" if actor.type != APPLICATION else None
    return federation_webfinger.build_jrd(f"acct:{actor.handle}@{urls.local_domain()}", [profile, actor.uri],
                                          actor.uri, profile, template)


def host_meta() -> str:
    """The host-meta XRD pointing at WebFinger (Mastodon's fallback)."""
    return federation_webfinger.build_host_meta(urls.base_url())


def nodeinfo_links() -> dict:
    """/.well-known/nodeinfo: the 2.0 and 2.1 documents and the Application actor (FEP-2677)."""
    base = urls.base_url()
    links = [{"rel": NODEINFO_SCHEMA.format(v), "href": f"{base}/nodeinfo/{v}"} for v in NODEINFO_VERSIONS]
    links.append({"rel": "https://www.w3.org/ns/activitystreams#Application",
                  "href": orgs.instance_actor().uri})
    return {"links": links}


def _usage() -> dict:
    local_actor = (Actor.domain.is_(None), Actor.type.in_((ORGANIZATION, GROUP)), Actor.suspended.is_(False))
    total = db.session.scalar(select(func.count()).select_from(Actor).where(*local_actor)) or 0

    def active_since(days: int) -> int:
        since = utcnow() - timedelta(days=days)
        query = (select(func.count(func.distinct(Post.actor_id))).join(Actor, Actor.id == Post.actor_id)
                 .where(*local_actor, Post.local.is_(True), Post.state == PUBLISHED,
                        Post.published_at >= since))
        return db.session.scalar(query) or 0

    posts = db.session.scalar(select(func.count()).select_from(Post).where(
        Post.local.is_(True), Post.state == PUBLISHED)) or 0
    return {"users": {"total": total, "activeMonth": active_since(30), "activeHalfyear": active_since(182)},
            "localPosts": posts}


def nodeinfo(version: str) -> dict | None:
    """The NodeInfo document in schema 2.0 or 2.1 (None for other versions)."""
    if version not in NODEINFO_VERSIONS:
        return None
    software = {"name": SOFTWARE, "version": VERSION}
    if version == "2.1":
        software["repository"] = REPOSITORY
    return {"version": version, "software": software, "protocols": ["activitypub"],
            "services": {"inbound": [], "outbound": ["atom1.0"]}, "openRegistrations": False,
            "usage": _usage(), "metadata": {"nodeName": urls.local_domain()}}


def nodeinfo_content_type(version: str) -> str:
    """The Content-Type NodeInfo documents are served with."""
    return f'application/json; profile="{NODEINFO_SCHEMA.format(version)}#"'
