"""The admin home; each admin area registers its routes on this blueprint."""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.auth.access import admin_required

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.route("/")
@admin_required
def index() -> str:
    return render_template("admin/index.html")
