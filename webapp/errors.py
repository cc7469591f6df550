"""Friendly error pages (HTML for people, JSON for API-style requests)."""

from __future__ import annotations

from typing import Any

from dash.exceptions import DependencyException
from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound

from webapp.extensions import db
from webapp.log_redaction import redact

TITLES = {
    400: "That request could not be understood",
    401: "Please sign in",
    403: "You do not have access to this page",
    404: "We could not find that page",
    405: "That action is not allowed here",
    409: "That conflicts with the current state",
    410: "That link is no longer valid",
    413: "That upload is too large",
    422: "Some of that could not be accepted",
    429: "Too many attempts",
}


def _render(error: HTTPException) -> tuple[Any, int]:
    code = error.code or 500
    title = TITLES.get(code, "Something went wrong on our side")
    message = error.description or ""
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return {"error": title, "message": message}, code
    return render_template("errors/error.html", code=code, title=title, message=message), code


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _render)

    @app.errorhandler(DependencyException)
    def unknown_dashboard_file(error: DependencyException) -> tuple[Any, int]:
        # Dash raises this for a script path it never registered: that file does not exist
        # (its own message lists every registered path, which a visitor need not see).
        return _render(NotFound("There is no such dashboard file."))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Any, int]:
        app.logger.exception("unhandled error on %s %s", request.method, redact(request.path))
        db.session.rollback()
        return _render(
            InternalServerError("The problem has been logged. Please try again in a moment.")
        )
