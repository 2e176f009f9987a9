"""Full-text search over public posts; Lao is segmented into words with ICU before indexing."""

import unicodedata

from sqlalchemy import delete, func, select

from hub.extensions import db
from hub.models import Post, SearchTerm
from hub.models.post import PUBLIC, PUBLISHED

MAX_TERM = 64
MAX_QUERY_TERMS = 8


def _is_word(segment: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in segment)


def segment(text: str) -> list[str]:
    """Split text into distinct, case-folded words (ICU's dictionary segmentation for Lao)."""
    # PyICU on first use, for memory (issue 4): ICU maps ~8 MB that processes that neither
    # publish nor search (the delivery worker, most web workers at rest) never touch.
    import icu

    text = unicodedata.normalize("NFC", text or "")
    breaker = icu.BreakIterator.createWordInstance(icu.Locale("lo"))
    breaker.setText(text)
    words, start = [], 0
    for end in breaker:
        piece = text[start:end].strip("#@_").casefold()
        start = end
        if _is_word(piece) and piece[:MAX_TERM] not in words:
            words.append(piece[:MAX_TERM])
    return words


def index_post(post: Post) -> None:
    """(Re)index a post in the current transaction: public published posts only."""
    db.session.execute(delete(SearchTerm).where(SearchTerm.post_id == post.id))
    if post.state == PUBLISHED and post.visibility == PUBLIC and post.local:
        for term in segment(f"{post.summary}\n{post.source}"):
            db.session.add(SearchTerm(term=term, post_id=post.id))


def search(query: str, limit: int = 20) -> list[Post]:
    """Public posts containing every word of the query, newest first."""
    terms = segment(query)[:MAX_QUERY_TERMS]
    if not terms:
        return []
    matching = (select(SearchTerm.post_id).where(SearchTerm.term.in_(terms))
                .group_by(SearchTerm.post_id)
                .having(func.count(func.distinct(SearchTerm.term)) == len(terms)))
    return list(db.session.scalars(
        select(Post).where(Post.id.in_(matching), Post.state == PUBLISHED, Post.visibility == PUBLIC)
        .order_by(Post.published_at.desc()).limit(limit)))
