"""The leaders' dashboard: a Dash app mounted at /dashboard/ behind the web app's login."""

from __future__ import annotations

import dash
from flask import Flask, abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from dashboard.callbacks import register
from dashboard.layout import serve_layout

PREFIX = "/dashboard/"


def guard() -> Response | None:
    """Every path under /dashboard/ (pages, callbacks, assets) needs a leader or an admin."""
    if not (request.path == PREFIX.rstrip("/") or request.path.startswith(PREFIX)):
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    if not current_user.can_view_dashboard:
        abort(403, description="The dashboard is for team leaders and administrators.")
    return None


def init_dashboard(server: Flask) -> dash.Dash:
    """Mount the Dash app on `server` and put it behind the sign-in guard."""
    server.before_request(guard)
    app = dash.Dash(
        __name__,
        server=server,
        url_base_pathname=PREFIX,
        title="Team Pulse dashboard",
        external_stylesheets=[],
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    app.layout = serve_layout
    register(app)
    # Dash's own routes are CSRF-free JSON posts guarded by the same session cookie (SameSite=Lax).
    server.extensions["csrf"].exempt(server.view_functions[f"{PREFIX}_dash-update-component"])
    return app
