"""Federating local changes: each function adds activities and their deliveries to the
current transaction (the caller commits), so a post and its deliveries commit together."""


def post_published(post) -> None:
    """Queue Create{Note} for a newly published post."""


def post_edited(post) -> None:
    """Queue Update{Note} for an edited published post."""


def post_deleted(post) -> None:
    """Queue Delete{Tombstone} for a deleted published post."""
