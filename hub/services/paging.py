"""Lists shown newest first, a page at a time, each page starting below an id (`?before=`): the
staff lists, notifications and a profile's posts."""

from dataclasses import dataclass

from hub.extensions import db


@dataclass
class Page:
    """One page of rows, newest first; `older` is the `before` of the next page (None on the last)
    and `total` how many rows the whole list has, where the page shows it."""

    items: list
    older: int | None
    total: int | None = None


def newest_first(query, id_column, before_id: int | None, limit: int) -> Page:
    """The first `limit` rows of `query` with ids below `before_id`, by id descending; one row more
    is read to tell whether another page follows."""
    if before_id is not None:
        query = query.where(id_column < before_id)
    rows = list(db.session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)
