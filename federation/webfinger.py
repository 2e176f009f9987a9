"""WebFinger (RFC 7033) as the fediverse uses it: account handles, lookups of the actor behind a
handle, and the JRD and host-meta documents the hub serves."""

import re
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from federation.addresses import AddressPolicy
from federation.errors import FetchError
from federation.transport import clean_url, fetch_jrd
from federation.vocab import ACTIVITY_JSON, as_list, is_activity_json, normalise_host

PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"
_USER = re.compile(r"[^\s@/:?#%\\\"'<>]{1,256}")


class WebFingerError(FetchError):
    """A WebFinger answer without a usable ActivityPub actor link."""


def parse_account(text: str) -> tuple[str, str]:
    """(user, normalised host) from @user@host, user@host or acct:user@host; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("account must be a string")
    value = text.strip()
    if value[:5].lower() == "acct:":
        value = value[5:]
    value = value.removeprefix("@")
    user, sep, host = value.partition("@")
    if not sep or not _USER.fullmatch(user) or not host or "@" in host or "/" in host:
        raise ValueError(f"not an account handle: {text[:100]!r}")
    return user, normalise_host(host)


def webfinger_url(host: str, resource: str, scheme: str = "https") -> str:
    """The WebFinger query URL for a resource on host."""
    return f"{scheme}://{normalise_host(host)}/.well-known/webfinger?resource={quote(resource, safe='@:')}"


def self_link(jrd: dict) -> str | None:
    """The href of the rel=self link with an ActivityStreams type, if any."""
    for link in as_list(jrd.get("links")):
        if (isinstance(link, dict) and link.get("rel") == "self" and is_activity_json(link.get("type"))
                and isinstance(link.get("href"), str)):
            return link["href"]
    return None


def lookup(account: str, *, policy: AddressPolicy, scheme: str = "https", signer=None, deadline: float = 10.0,
           verify: bool | str = True) -> str:
    """The actor id behind an account handle, from its host's WebFinger (the caller fetches and checks it)."""
    user, host = parse_account(account)
    jrd = fetch_jrd(webfinger_url(host, f"acct:{user}@{host}", scheme), policy, signer=signer,
                    deadline=deadline, verify=verify)
    href = self_link(jrd)
    if href is None:
        raise WebFingerError(f"no ActivityPub actor link for {user}@{host}")
    clean_url(href)  # an http(s) URL, or FetchError
    return href


def build_jrd(subject: str, aliases: list[str], actor_id: str, profile_url: str | None = None,
              subscribe_template: str | None = None) -> dict:
    """The JRD for one of our actors: subject, aliases, self link, profile page, subscribe template."""
    links = [{"rel": "self", "type": ACTIVITY_JSON, "href": actor_id}]
    if profile_url:
        links.append({"rel": PROFILE_PAGE, "type": "text/html", "href": profile_url})
    if subscribe_template:
        links.append({"rel": SUBSCRIBE, "template": subscribe_template})
    return {"subject": subject, "aliases": list(aliases), "links": links}


def build_host_meta(base_url: str) -> str:
    """The host-meta XRD whose lrdd template points at our WebFinger endpoint."""
    template = quoteattr(f"{base_url.rstrip('/')}/.well-known/webfinger?resource={{uri}}")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
            f'  <Link rel="lrdd" template={template}/>\n</XRD>\n')
