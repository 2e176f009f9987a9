"""CSO Hub: a federated network hub for civil-society organisations."""

from pathlib import Path

from flask import Flask, has_request_context
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from hub import outage
from hub.activitypub import bp as activitypub_bp
from hub.activitypub.fast_inbox import FastInbox
from hub.cli import register_cli
from hub.config import load_config
from hub.extensions import PendingMigrate, babel, csrf, db, login_manager, use_write_ahead_log
from hub.microcache import PublicCache
from hub.negotiation import browser_locale
from hub.web import bp as web_bp

MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # inside the package, so a wheel has them


def select_locale() -> str:
    """The member's chosen language, then the browser's, then Lao (English outside requests: the CLI)."""
    if not has_request_context():
        return "en"
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale:
        return current_user.locale
    return browser_locale()


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask application; nothing happens at import time."""
    settings = load_config(config)
    app = Flask(__name__, instance_path=settings["HUB_INSTANCE_DIR"])  # templates: hub/templates
    app.config.update(settings)
    app.wsgi_app = FastInbox(app, app.wsgi_app)  # inbox POSTs skip Flask's request machinery
    if app.config["HUB_TRUST_PROXY"]:  # behind N reverse proxies: their X-Forwarded-Proto/Host/For count
        hops = app.config["HUB_TRUST_PROXY"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.wsgi_app = PublicCache(app.wsgi_app, app.config["HUB_PUBLIC_CACHE_SECONDS"])
    db.init_app(app)
    with app.app_context():
        use_write_ahead_log(db.engine)
    PendingMigrate(app, directory=str(MIGRATIONS), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    outage.register(app)
    app.register_blueprint(activitypub_bp)
    app.register_blueprint(web_bp)
    register_cli(app)
    return app
