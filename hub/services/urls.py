"""Where things live: every id and URL the hub hands out is built here."""

from flask import current_app


def base_url() -> str:
    """Scheme and host of this hub, e.g. https://hub.example."""
    return f"{current_app.config['HUB_SCHEME']}://{current_app.config['HUB_DOMAIN']}"


def local_domain() -> str:
    """The host[:port] that appears in handles (org@domain)."""
    return current_app.config["HUB_DOMAIN"]


def actor_uri(handle: str) -> str:
    """The ActivityPub id of a local actor."""
    return f"{base_url()}/actors/{handle}"


def profile_url(handle: str) -> str:
    """The public profile page of a local actor."""
    return f"{base_url()}/@{handle}"


def instance_actor_uri() -> str:
    """The id of the instance's Application actor (FEP-2677)."""
    return f"{base_url()}/actor"


def shared_inbox_url() -> str:
    """The hub's shared inbox."""
    return f"{base_url()}/inbox"


def post_uri(handle: str, post_id: int) -> str:
    """The id of a local post; also its permalink page (content negotiation)."""
    return f"{base_url()}/@{handle}/{post_id}"


def boost_uri(handle: str, boost_id: int) -> str:
    """The stable id of a local actor's Announce."""
    return f"{actor_uri(handle)}/boosts/{boost_id}"


def media_url(file_name: str) -> str:
    """Public address of an uploaded file."""
    origin = current_app.config.get("HUB_MEDIA_URL") or f"{base_url()}/media"
    return f"{origin}/{file_name}"
