"""The leaders' dashboard: a Dash app mounted at /dashboard/ behind the web app's login."""

from __future__ import annotations

from typing import Any

import dash
from flask import Flask, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from dashboard.callbacks import register
from dashboard.layout import serve_layout

PREFIX = "/dashboard/"
# Dash's own data routes (callbacks, layout, dependencies): answered by fetch, never shown.
DATA_ROUTES = ("_dash-", "_reload-hash", "_favicon")


def guard() -> Response | tuple[Response, int] | None:
    """Every path under /dashboard/ (pages, callbacks, assets) needs a leader or an admin.

    A page asks for sign-in by redirect; a data request answers 401 instead, because fetch
    would follow a redirect to an HTML page and fail on it as JSON while the old figures stay
    on screen. The page's script turns that 401 into the same trip to sign-in and back."""
    if not (request.path == PREFIX.rstrip("/") or request.path.startswith(PREFIX)):
        return None
    if not current_user.is_authenticated:
        tail = request.path.removeprefix(PREFIX)
        if tail.startswith(DATA_ROUTES):
            return jsonify(error="Your session has ended. Please sign in again."), 401
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    if not current_user.can_view_dashboard:
        abort(403, description="The dashboard is for team leaders and administrators.")
    return None


class ShellDash(dash.Dash):  # type: ignore[misc]
    """Dash inside the web app's shell: the same navigation, skip link and <main> as every
    signed-in page, rendered by the same template rather than copied into the layout."""

    def interpolate_index(self, **kwargs: Any) -> str:
        return render_template(
            "dashboard.html",
            dash_metas=kwargs.get("metas", ""),
            dash_css=kwargs.get("css", ""),
            dash_config=kwargs.get("config", ""),
            dash_scripts=kwargs.get("scripts", ""),
            dash_renderer=kwargs.get("renderer", ""),
            dash_entry=kwargs.get("app_entry", ""),
        )


def init_dashboard(server: Flask) -> dash.Dash:
    """Mount the Dash app on `server` and put it behind the sign-in guard."""
    server.before_request(guard)
    app = ShellDash(
        __name__,
        server=server,
        url_base_pathname=PREFIX,
        title="Team Pulse dashboard",
        external_stylesheets=[],
        # The shell already loads Bootstrap from the web app's static files.
        assets_ignore=r"bootstrap\.min\.css",
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    app.layout = serve_layout
    register(app)
    # Dash's own routes are CSRF-free JSON posts guarded by the same session cookie (SameSite=Lax).
    server.extensions["csrf"].exempt(server.view_functions[f"{PREFIX}_dash-update-component"])
    return app
