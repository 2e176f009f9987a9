"""Finding accounts by handle or URL: local actors directly, remote ones through WebFinger and a
signed fetch of the actor document (cached in the actors table)."""

import re
from urllib.parse import unquote, urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from federation import webfinger as federation_webfinger
from federation.errors import FederationError
from hub import convert
from hub.extensions import db
from hub.models import Actor
from hub.services import NotFound, ServiceError, orgs, remote, urls

HANDLE_RE = re.compile(r"^@?([^@\s/:]{1,255})@([A-Za-z0-9.\-\[\]:]{1,255})$")
MENTION_DEADLINE = 5.0


def _is_local_host(host: str) -> bool:
    ours = (convert.host_of(urls.base_url()), urls.local_domain().lower())
    return convert.host_of(f"http://{host}") in ours


def _schemes() -> tuple[str, ...]:
    # GoToSocial and Mastodon serve WebFinger over https; plain http only where this hub runs on it.
    return ("http", "https") if current_app.config.get("HUB_SCHEME") == "http" else ("https",)


def webfinger(user: str, host: str, *, deadline: float | None = None) -> str:
    """The actor id WebFinger gives for user@host (its rel=self ActivityStreams link)."""
    failures = []
    for scheme in _schemes():
        try:
            return federation_webfinger.lookup(f"{user}@{host}", policy=remote.policy(), scheme=scheme,
                                               deadline=deadline or 10.0)
        except (FederationError, ValueError) as exc:
            failures.append(exc)
    # the server's own answer (say 404 over http) tells more than a failed attempt over the other scheme
    telling = next((exc for exc in failures if getattr(exc, "status", None)), failures[-1])
    raise remote.FetchError("; ".join(map(str, failures)), getattr(telling, "status", None)) from telling


def _cached(user: str, host: str) -> Actor | None:
    domain = convert.host_of(f"http://{host}")
    return db.session.scalar(select(Actor).where(Actor.domain == domain, Actor.handle == user,
                                                 Actor.gone.is_(False)))


def resolve_handle(user: str, host: str | None, *, fetch: bool = True,
                   deadline: float | None = None) -> Actor:
    """The actor @user@host names: local, cached, or found through WebFinger; NotFound otherwise."""
    if host is None or _is_local_host(host):
        actor = orgs.get_local_actor(user)
        if actor is None or actor.type == "Application":
            raise NotFound(_l("There is no account @%(user)s on this hub.", user=user))
        return actor
    cached = _cached(user, host)
    if cached is not None and (not fetch or cached.fetched_at):
        return cached
    if not fetch:
        raise NotFound(_l("@%(user)s@%(host)s is not known here.", user=user, host=host))
    try:
        return remote.get_actor(webfinger(user, host, deadline=deadline))
    except remote.FetchError as exc:
        raise NotFound(_l("@%(user)s@%(host)s could not be found: %(reason)s.", user=user, host=host,
                          reason=remote.reason(exc))) from exc


def _local_from_url(url: str) -> Actor | None:
    path = unquote(urlsplit(url).path).rstrip("/")
    for prefix in ("/actors/", "/@"):
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return orgs.get_local_actor(path[len(prefix):])
    return None


def resolve_account(text: str, *, fetch: bool = True) -> Actor:
    """The account a person typed: @user@host, user@host, acct:user@host, or a profile/actor URL."""
    text = (text or "").strip()
    if text.lower().startswith("acct:"):
        text = text[5:]
    if text.startswith(("http://", "https://")):
        if convert.host_of(text) == convert.host_of(urls.base_url()):
            actor = _local_from_url(text)
            if actor is None:
                raise NotFound(_l("There is no such account on this hub."))
            return actor
        known = remote.known_actor(text) or db.session.scalar(select(Actor).where(Actor.url == text))
        if known is not None and not fetch:
            return known
        if not fetch:
            raise NotFound(_l("This account is not known here."))
        try:
            return remote.get_actor_by_url(text)
        except remote.FetchError as exc:
            raise NotFound(_l("No account was found at this address: %(reason)s.",
                              reason=remote.reason(exc))) from exc
    match = HANDLE_RE.match(text)
    if not match:
        raise ServiceError(_l("Type an account as @name@server or paste its address."))
    return resolve_handle(match.group(1), match.group(2), fetch=fetch)


def resolve_mention(user: str, host: str | None) -> Actor | None:
    """The actor a mention @user[@host] names, or None when it cannot be found."""
    try:
        return resolve_handle(user, host, deadline=MENTION_DEADLINE)
    except ServiceError:
        return None
