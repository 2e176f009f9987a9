"""Warm-up of a preloaded web app in the gunicorn master, before it forks its workers (issue 4).

A worker that answers its first requests builds per-process state (compiled SQL, specialised
bytecode, ORM and template caches) in memory of its own, and writes to pages it shared with the
master. Answering a few typical read-only requests in the master first builds that state once,
where every worker shares it. Nothing here writes to the database.
"""

import logging

from flask import Flask

from hub.extensions import db
from hub.services import orgs

log = logging.getLogger(__name__)
ROUNDS = 10  # enough for CPython to specialise the bytecode of the code paths (it waits 8 calls)
# The public cache keeps nothing for requests with a cookie: warm-up answers must not be served later.
HEADERS = {"Cookie": "hub-warm-up=1"}
JSON = "application/activity+json"


def paths(app: Flask) -> list[tuple[str, str]]:
    """(path, Accept) of typical public requests: the home page, NodeInfo, and one organisation's
    WebFinger, actor, outbox page and profile when the hub has an organisation. (Not
    /.well-known/nodeinfo: it would create the instance actor, a write.)"""
    found = [("/", "text/html"), ("/nodeinfo/2.1", "application/json")]
    with app.app_context():
        first = next(iter(orgs.local_orgs()), None)
        if first is not None:
            handle, domain = first.handle, app.config["HUB_DOMAIN"]
            found += [(f"/.well-known/webfinger?resource=acct:{handle}@{domain}", "application/jrd+json"),
                      (f"/actors/{handle}", JSON), (f"/actors/{handle}/outbox?page=1", JSON),
                      (f"/@{handle}", "text/html")]
        db.session.remove()
    return found


def warm_up(app: Flask) -> None:
    """Answer the typical requests a few times, then close the database connections this opened."""
    client = app.test_client()
    headers = dict(HEADERS, Host=app.config["HUB_DOMAIN"])
    try:
        for path, accept in paths(app):  # inside the try: finding an organisation reads the database
            for _ in range(ROUNDS):
                client.get(path, headers=dict(headers, Accept=accept))
    except Exception as exc:  # an optimisation only: a hub whose database is not ready yet still starts
        log.warning("warm-up stopped early, the hub starts anyway: %s", exc)
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
