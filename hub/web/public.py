"""Public HTML pages: the instance home, profiles, permalinks, the Atom feed, tags, search, media.

The profile `/@<handle>` (endpoint web.profile) and permalink `/@<handle>/<post_id>` (web.permalink)
share their URLs with ActivityPub documents: the activitypub blueprint answers them first when the
client asks for ActivityStreams JSON, so these views only ever render HTML.
"""

from flask import Response, abort, current_app, render_template, request, send_from_directory
from flask_babel import get_locale

from hub import microcache
from hub.extensions import db
from hub.models import Actor, Post
from hub.models.post import DELETED
from hub.services import NotFound, feeds, media, orgs, posts, search, social, urls
from hub.web import bp
from hub.web.common import before_id

PAGE = 20


def _public_org(handle: str) -> Actor:
    try:
        org = orgs.require_org(handle)
    except NotFound:
        abort(404)
    if org.suspended:
        abort(404)
    return org


def _bios(org: Actor) -> list[tuple[str, str]]:
    """(language, text) of the bios, the reader's language first."""
    bios = [(lang, text) for lang, text in (("lo", org.bio_lo), ("en", org.bio_en)) if text]
    return sorted(bios, key=lambda item: item[0] != str(get_locale() or "lo"))


@bp.get("/")
def home():
    """The instance's home page: its organisations and networks."""
    microcache.allow()
    return render_template("public/home.html", orgs=orgs.local_orgs())


@bp.get("/@<handle>")
def profile(handle: str):
    """An organisation's public profile: avatar, bio, website and its posts, newest first, paged."""
    org = _public_org(handle)
    page = posts.profile_page(org, before_id=before_id(), limit=PAGE)
    microcache.allow()
    return render_template("public/profile.html", org=org, posts=page.items, bios=_bios(org),
                           acct=org.acct(urls.local_domain()), older=page.older)


@bp.get("/@<handle>/<int:post_id>")
def permalink(handle: str, post_id: int):
    """One published public or unlisted post; 410 once deleted, 404 for anything else."""
    org = _public_org(handle)
    post = db.session.get(Post, post_id)
    if post is None or post.actor_id != org.id or not post.local:
        abort(404)
    if post.state == DELETED and post.published_at is not None:
        abort(410)
    if not post.is_visible_publicly:
        abort(404)
    microcache.allow()
    return render_template("public/permalink.html", org=org, post=post, replies=social.replies(post),
                           counts=social.counts(post))


@bp.get("/@<handle>/feed.atom")
def feed(handle: str):
    """The organisation's public posts as an Atom feed (newest 20)."""
    org = _public_org(handle)
    microcache.allow()
    response = Response(feeds.atom_feed(org), mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/tags/<path:name>")
def tag(name: str):
    """Public posts of this hub with a hashtag."""
    microcache.allow()
    return render_template("public/tag.html", name=name, posts=posts.tagged(name, limit=PAGE))


@bp.get("/search")
def search_page():
    """Search the hub's public posts (Lao words are found inside unspaced sentences)."""
    query = (request.args.get("q") or "").strip()[:200]
    results = search.search(query) if query else []
    return render_template("public/search.html", query=query, posts=results)


@bp.get("/media/<name>")
def media_file(name: str):
    """An uploaded image: a fixed image Content-Type, never sniffed, never a document or JSON."""
    media_type = media.media_type_for(name)
    if media_type is None:
        abort(404)
    response = send_from_directory(current_app.config["HUB_MEDIA_DIR"], name, mimetype=media_type,
                                   max_age=365 * 24 * 3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response
