"""The landing page: sends each person where their role starts."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
def index() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in"))
    if current_user.can_view_dashboard:
        return redirect("/dashboard/")
    return render_template("home.html")


@blueprint.route("/account")
@login_required
def account() -> str:
    return render_template("home.html")
