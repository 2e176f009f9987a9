"""Content negotiation shared by the blueprints: ActivityStreams JSON for peers, HTML for browsers.

A neutral module (neither a blueprint nor a service) so that hub.web and hub.activitypub can both
use it without importing each other.
"""

import json

from flask import Response, request

from hub import microcache

AS_MEDIA_TYPE = "application/activity+json"
AS_CONTENT_TYPE = "application/activity+json; charset=utf-8"
LD_PROFILE = "https://www.w3.org/ns/activitystreams"
JSON_TYPES = (AS_MEDIA_TYPE, "application/ld+json")
LANGUAGES = ["lo", "en"]  # the catalogs in hub/translations, Lao first


def _is_activity_type(media_type: str) -> bool:
    media_type = media_type.strip().lower()
    base = media_type.split(";", 1)[0].strip()
    if base == AS_MEDIA_TYPE:
        return True
    return base == "application/ld+json"  # with or without the activitystreams profile


def wants_activity_json() -> bool:
    """True when the request's Accept prefers ActivityStreams JSON over HTML."""
    accept = request.headers.get("Accept", "")
    if not accept:
        return False
    best_as = best_html = -1.0
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        quality = 1.0
        for param in fields[1:]:
            if param.lower().startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if _is_activity_type(part) or media == "application/json":
            best_as = max(best_as, quality)
        elif media in ("text/html", "application/xhtml+xml", "*/*", "text/*"):
            best_html = max(best_html, quality - (0.001 if media in ("*/*", "text/*") else 0.0))
    return best_as > 0 and best_as >= best_html


def activity_response(document: dict, status: int = 200, *, cache_seconds: int | None = 60) -> Response:
    """An ActivityStreams JSON response (never Flask's default application/json)."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, content_type=AS_CONTENT_TYPE)
    vary(response)
    if cache_seconds is not None and status == 200:
        response.headers["Cache-Control"] = f"max-age={cache_seconds}, public"
        microcache.allow()
    return response


def browser_locale() -> str:
    """The language the browser prefers of those the hub speaks (Lao when it names neither)."""
    return request.accept_languages.best_match(LANGUAGES) or "lo"


def vary(response: Response) -> Response:
    """Mark a response as depending on the Accept header (same URL, HTML or JSON)."""
    response.vary.add("Accept")
    return response
