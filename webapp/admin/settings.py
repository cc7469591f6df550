"""Admin settings: organisation name, time zone, confidentiality thresholds, a test email."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import abort, current_app, flash, redirect, render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.delivery.mail import MailMessage, PermanentMailError, TemporaryMailError, send_one
from pulse.organisation.service import (
    OrgSettings,
    configured_defaults,
    get_settings,
    update_settings,
)
from webapp.admin.cycles import enqueue
from webapp.admin.forms import ActionForm, SettingsForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db

REAGGREGATE_TASK = "worker.aggregation.sweep"
SETTING_NAMES = ("name", "timezone", "threshold", "threshold_participation", "threshold_comments")
THRESHOLD_NAMES = ("threshold", "threshold_participation", "threshold_comments")


def _page(form: SettingsForm, status: int = 200) -> tuple[str, int]:
    pulse = current_app.config["PULSE"]
    return render_template(
        "admin/settings.html",
        form=form,
        action=ActionForm(formdata=None),
        zones=sorted(available_timezones()),
        mail_backend=pulse.mail_backend,
        defaults=configured_defaults(pulse),
    ), status


def _current() -> OrgSettings:
    """The settings in force, with the configured PULSE_THRESHOLD* for any never set."""
    pulse = current_app.config["PULSE"]
    return get_settings(
        db.session,
        default_threshold=pulse.threshold,
        default_participation=pulse.threshold_participation,
        default_comments=pulse.threshold_comments,
    )


@blueprint.route("/settings", methods=["GET", "POST"])
@admin_required
def settings() -> Response | tuple[str, int]:
    current = _current()
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
            threshold_participation=form.threshold_participation.data,
            threshold_comments=form.threshold_comments.data,
            default_threshold=current_app.config["PULSE"].threshold,
        )
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _page(form, 422)
    db.session.flush()
    changed = _current()
    changes = {
        key: {"from": getattr(current, key), "to": getattr(changed, key)}
        for key in SETTING_NAMES
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
    # Any threshold can change what reports may show: recompute them now, not at the sweep.
    if changes.keys() & set(THRESHOLD_NAMES) and not enqueue(REAGGREGATE_TASK):
        flash(
            "Saved. The reports will be recomputed with the new thresholds when the workers "
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
