"""WebFinger, host-meta and NodeInfo."""

import json

from flask import Response, abort, request

from hub.activitypub import bp
from hub.services import discovery

JRD = "application/jrd+json; charset=utf-8"


def _json(document: dict, content_type: str, status: int = 200) -> Response:
    response = Response(json.dumps(document, ensure_ascii=False), status=status, content_type=content_type)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/webfinger")
def webfinger():
    """Resolve acct:user@host, user@host or an actor/profile URL to a JRD."""
    try:
        actor = discovery.find_resource(request.args.get("resource"))
    except discovery.BadResource as exc:
        return _json({"error": str(exc)}, JRD, 400)
    if actor is None:
        return _json({"error": "not found"}, JRD, 404)
    response = _json(discovery.webfinger(actor), JRD)
    response.headers["Cache-Control"] = "max-age=300, public"
    return response


@bp.get("/.well-known/host-meta")
def host_meta():
    """XRD with the lrdd template."""
    response = Response(discovery.host_meta(), content_type="application/xrd+xml; charset=utf-8")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/nodeinfo")
def nodeinfo_links():
    """Links to the NodeInfo documents and the instance actor."""
    return _json(discovery.nodeinfo_links(), "application/json; charset=utf-8")


@bp.get("/nodeinfo/<version>")
def nodeinfo(version: str):
    """NodeInfo 2.0 or 2.1."""
    document = discovery.nodeinfo(version)
    if document is None:
        abort(404)
    return _json(document, discovery.nodeinfo_content_type(version))
