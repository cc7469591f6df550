"""The composition root: create_app wires the domain, the dashboard and Celery into Flask."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from dashboard import init_dashboard
from pulse.config import Settings, limiter_storage_url, load_env_file
from webapp import dash_requests, errors, log_redaction, request_ids, security_headers
from webapp.accounts import blueprint as accounts
from webapp.admin import blueprint as admin
from webapp.api import blueprint as api
from webapp.auth import blueprint as auth
from webapp.auth.oidc import init_oidc
from webapp.auth.user import load_user
from webapp.dev_outbox import blueprint as dev_outbox
from webapp.extensions import csrf, db, limiter, login_manager
from webapp.health import blueprint as health
from webapp.home import blueprint as home
from webapp.hot_path import CookieSessions, init_limiter
from webapp.metrics import install as install_metrics
from webapp.reports import blueprint as reports
from webapp.scim import mount_scim
from webapp.survey import blueprint as survey
from webapp.survey import is_answer_page
from webapp.url_ids import RowIdConverter
from worker import celery_init_app


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: settings, extensions, blueprints, dashboard, Celery, commands."""
    # Named after the package, as before this module was split out of webapp/__init__.py: the
    # app's logger, its root path and the Celery app's name all follow the name.
    app = Flask("webapp")
    configure(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_error_pages(app)
    register_dashboard(app)
    register_celery(app)
    init_oidc(app)
    mount_scim(app)
    return app


def configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    overrides = dict(test_config or {})
    settings = overrides.pop("PULSE", None)
    if settings is None:
        # gunicorn and the Celery worker start here without the CLI: they read .env too.
        load_env_file()
        settings = Settings.from_env()
    app.config.update(
        PULSE=settings,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        REMEMBER_COOKIE_SECURE=settings.production,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
        RATELIMIT_STORAGE_URI=limiter_storage_url(settings.redis_url),
        RATELIMIT_STRATEGY="moving-window",
        # A rate limiter that cannot reach Redis lets requests through rather than failing them.
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.update(overrides)
    app.session_interface = CookieSessions()
    request_ids.configure_logging(settings.log_format)
    # Flask logs the URL of an unhandled error ("Exception on /s/<token> [POST]"), and
    # werkzeug's development server logs every request line: neither keeps the link token.
    log_redaction.install(app.logger, logging.getLogger("werkzeug"))


def register_extensions(app: Flask) -> None:
    request_ids.install(app)
    db.init_app(app)
    install_metrics(app)
    csrf.init_app(app)
    # The answer page is exempt from rate limits; its requests skip the limiter's hooks.
    init_limiter(app, limiter, exempt=is_answer_page)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter  # before any rule: ids beyond any row are 404
    for blueprint in (health, auth, accounts, home, admin, survey, dev_outbox, api, reports):
        app.register_blueprint(blueprint)
    # The API authenticates each request by its bearer token, never by a cookie.
    csrf.exempt(api)


def register_error_pages(app: Flask) -> None:
    errors.register(app)


def register_dashboard(app: Flask) -> None:
    dash_app = init_dashboard(app)
    dash_requests.install(app, dash_app)
    # After the dashboard: the policy allows Dash's inline scripts by their hashes, known
    # once every clientside callback is registered.
    security_headers.install(
        app, script_hashes=dash_app.csp_hashes(), production=app.config["PULSE"].production
    )


def register_celery(app: Flask) -> None:
    celery_init_app(app)
