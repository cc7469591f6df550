"""The audit log page: read-only (no route changes or removes an event), filterable, paged."""

from __future__ import annotations

from flask import render_template, request

from pulse.audit.queries import known_actions, search_events
from webapp.admin.forms import AuditFilterForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db


@blueprint.route("/audit")
@admin_required
def audit() -> tuple[str, int]:
    form = AuditFilterForm(request.args)
    form.action.choices = [("", "Any action"), *((a, a) for a in known_actions(db.session))]
    page = request.args.get("page", 1, type=int) or 1
    if not form.validate():
        return render_template("admin/audit.html", form=form, result=None, error=None), 422
    try:
        result = search_events(
            db.session,
            actor=form.actor.data or "",
            action=form.action.data or "",
            since=form.since.data,
            until=form.until.data,
            page=page,
        )
    except ValueError as exc:
        return render_template("admin/audit.html", form=form, result=None, error=str(exc)), 422
    filters = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_template(
        "admin/audit.html", form=form, result=result, error=None, filters=filters
    ), 200
