"""`/dev/outbox`: mail kept by the development outbox backend, browsable only when enabled."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from pulse.delivery.models import OutboxMessage
from webapp.extensions import db

blueprint = Blueprint("dev_outbox", __name__, url_prefix="/dev/outbox")


@blueprint.before_request
def only_when_browsable() -> None:
    # Production refuses the outbox backend at start-up; this also hides it when disabled.
    if not current_app.config["PULSE"].outbox_browsable:
        abort(404)


@blueprint.route("/")
def index() -> str:
    messages = db.session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
    ).all()
    return render_template("dev/outbox.html", messages=messages)


@blueprint.route("/<int:message_id>")
def message(message_id: int) -> str:
    found = db.session.get(OutboxMessage, message_id)
    if found is None:
        abort(404, description="There is no message with that number in the outbox.")
    return render_template("dev/outbox_message.html", message=found)
