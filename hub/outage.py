"""What the hub answers while its database cannot be reached (PostgreSQL restarting, a full disk):
503 with Retry-After instead of a 500 and a traceback, and a warning line at most every LOG_SECONDS
counting what was refused, not one per request.

Inbox POSTs are answered so by hub.activitypub.fast_inbox; every other request by `answer_outage`,
Flask's handler for database errors: JSON for peers, and for people a page that needs nothing from
the database (the usual layout loads the member and their organisations).
"""

import json
import logging
import time

from flask import Flask, Response, current_app, g, request
from flask_babel import force_locale
from sqlalchemy.exc import DBAPIError

from hub.extensions import database_unavailable, error_line
from hub.negotiation import browser_locale, vary, wants_activity_json

log = logging.getLogger(__name__)
RETRY_AFTER = 30  # seconds: about how long PostgreSQL takes to restart
LOG_SECONDS = 10.0


class OutageLog:
    """A warning at most every LOG_SECONDS while requests meet an unreachable database, counting the
    requests answered 503 (a lost count between threads is harmless)."""

    def __init__(self, what: str):
        self.what, self.last, self.unlogged = what, float("-inf"), 0

    def refused(self, exc: BaseException) -> None:
        """Count one request answered 503; log when the last line is old enough."""
        self.unlogged += 1
        if time.monotonic() - self.last >= LOG_SECONDS:
            log.warning("the database cannot be reached (%s): %d %s answered 503",
                        error_line(exc), self.unlogged, self.what)
            self.last, self.unlogged = time.monotonic(), 0


def register(app: Flask) -> None:
    """Answer requests that meet an unreachable database with 503 (other database errors stay 500)."""
    app.extensions["hub.outage"] = OutageLog("requests")
    app.register_error_handler(DBAPIError, answer_outage)


def answer_outage(error: DBAPIError) -> Response:
    """503 + Retry-After when the database cannot be reached; any other database error is raised
    again, to Flask's 500 (or to the test that caused it)."""
    if not database_unavailable(error):
        raise error
    current_app.extensions["hub.outage"].refused(error)
    if request.blueprint == "activitypub" or wants_activity_json():
        body = json.dumps({"status": 503, "reason": "the database cannot be reached; try again later"})
        response = vary(Response(body, status=503, content_type="application/json"))
    else:
        response = Response(_page(), status=503, content_type="text/html; charset=utf-8")
    response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page() -> str:
    """The outage page in the visitor's language. Rendered by Jinja itself, not render_template: the
    app's context processors load the member and their organisations."""
    language = _visitor_locale()
    with force_locale(language):
        template = current_app.jinja_env.get_template("unavailable.html")
        return template.render(lang=language, refresh=request.method in ("GET", "HEAD"))


def _visitor_locale() -> str:
    """The member's language if they were loaded before the database went away, else the browser's."""
    return g.get("member_locale") or browser_locale()
