"""Admin settings: organisation name, time zone, confidentiality threshold, a test email."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import abort, current_app, flash, redirect, render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.delivery.mail import MailMessage, PermanentMailError, TemporaryMailError, send_one
from pulse.organisation.service import get_settings, update_settings
from webapp.admin.cycles import enqueue
from webapp.admin.forms import ActionForm, SettingsForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db

REAGGREGATE_TASK = "worker.aggregation.sweep"


def _page(form: SettingsForm, status: int = 200) -> tuple[str, int]:
    pulse = current_app.config["PULSE"]
    return render_template(
        "admin/settings.html",
        form=form,
        action=ActionForm(formdata=None),
        zones=sorted(available_timezones()),
        mail_backend=pulse.mail_backend,
    ), status


@blueprint.route("/settings", methods=["GET", "POST"])
@admin_required
def settings() -> Response | tuple[str, int]:
    current = get_settings(db.session, default_threshold=current_app.config["PULSE"].threshold)
    form = SettingsForm(obj=current)
    if not form.is_submitted():
        return _page(form)
    if not form.validate():
        return _page(form, 422)
    try:
        update_settings(
            db.session,
            name=form.name.data,
            timezone=form.timezone.data.strip(),
            threshold=form.threshold.data,
        )
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _page(form, 422)
    db.session.flush()
    changed = get_settings(db.session, default_threshold=current.threshold)
    changes = {
        key: {"from": getattr(current, key), "to": getattr(changed, key)}
        for key in ("name", "timezone", "threshold")
        if getattr(current, key) != getattr(changed, key)
    }
    if changes:
        record(
            db.session,
            actor=current_user.person(),
            action="settings.update",
            target="organisation",
            detail=changes,
        )
    db.session.commit()
    if "threshold" in changes and not enqueue(REAGGREGATE_TASK):
        flash(
            "Saved. The reports will be recomputed with the new threshold when the workers "
            "next run (the task queue is not reachable right now).",
            "warning",
        )
    else:
        flash("Saved." if changes else "Nothing changed.", "success")
    return redirect("/admin/settings")


@blueprint.route("/settings/test-email", methods=["POST"])
@admin_required
def settings_test_email() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    me = current_user.person()
    pulse = current_app.config["PULSE"]
    message = MailMessage(
        to=me.email,
        subject="Team Pulse test email",
        text=(
            "This is a test from Team Pulse: mail is configured correctly.\n"
            f"Backend: {pulse.mail_backend}; sender: {pulse.mail_from}.\n"
        ),
    )
    try:
        send_one(pulse, db.session, message)
    except (TemporaryMailError, PermanentMailError) as exc:
        db.session.rollback()
        record(
            db.session,
            actor=me,
            action="settings.test_email",
            target=me.email,
            detail={"ok": False, "error": str(exc)[:500]},
        )
        db.session.commit()
        flash(f"The test email could not be sent: {exc}", "danger")
        return redirect("/admin/settings")
    record(db.session, actor=me, action="settings.test_email", target=me.email, detail={"ok": True})
    db.session.commit()
    where = " (kept in the development outbox)" if pulse.mail_backend == "outbox" else ""
    flash(f"A test email was sent to {me.email}{where}.", "success")
    return redirect("/admin/settings")
