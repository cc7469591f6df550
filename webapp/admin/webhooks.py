"""Webhook endpoints: register a URL for events, see its secret and its last attempts."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from pulse.people.models import Person
from pulse.webhooks.models import EVENTS, WebhookEndpoint
from pulse.webhooks.service import last_attempts, list_endpoints, register_endpoint, remove_endpoint
from webapp.admin.forms import ActionForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db


def _actor() -> Person:
    person: Person = current_user.person()
    return person


@blueprint.route("/webhooks", methods=["GET", "POST"])
@admin_required
def webhooks() -> tuple[str, int] | Response:
    form = ActionForm()
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            endpoint = register_endpoint(
                db.session,
                actor=_actor(),
                url=request.form.get("url", ""),
                events=request.form.getlist("events"),
            )
        except ValueError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash("Endpoint registered. Verify deliveries with its signing secret.", "success")
            return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))
    code = 422 if error else 200
    return render_template(
        "admin/webhooks.html",
        endpoints=list_endpoints(db.session),
        events=EVENTS,
        form=form,
        error=error,
    ), code


@blueprint.route("/webhooks/<int:endpoint_id>")
@admin_required
def webhook(endpoint_id: int) -> str:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return render_template(
        "admin/webhook.html",
        endpoint=endpoint,
        attempts=last_attempts(db.session, endpoint_id=endpoint_id),
        form=ActionForm(),
    )


@blueprint.route("/webhooks/<int:endpoint_id>/remove", methods=["POST"])
@admin_required
def remove_webhook(endpoint_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        remove_endpoint(db.session, actor=_actor(), endpoint_id=endpoint_id)
    except ValueError:
        abort(404)
    db.session.commit()
    flash("Endpoint removed.", "success")
    return redirect(url_for("admin.webhooks"))
