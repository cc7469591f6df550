"""Admin schedule pages: list, create, edit, pause and delete, with a preview before saving."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.delivery.emails import cycle_email, render_message
from pulse.delivery.models import Invitation
from pulse.delivery.sending import delivery_counts
from pulse.instrument import PROGRAMS, items_for_cycle
from pulse.organisation.service import get_settings
from pulse.people.models import Person
from pulse.surveys.bank import current_items
from pulse.surveys.models import Cycle, Schedule
from pulse.surveys.schedules import (
    CADENCE_LABELS,
    NTH_LABELS,
    WEEKDAYS,
    ScheduleSpec,
    closing_time,
    create_schedule,
    delete_schedule,
    describe,
    next_send_times,
    set_paused,
    spec_of,
    update_schedule,
    zone,
)
from pulse.teams.models import Team
from pulse.teams.tree import team_tree
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db

PREVIEW_TOKEN = "PREVIEW-ONLY-this-link-does-not-work-000000"


class ScheduleForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    program = SelectField(
        "Program",
        choices=[("rotating", "Rotating pulse (8 items)"), ("full", "Full pulse (18 items)")],
    )
    cadence = SelectField("Cadence", choices=list(CADENCE_LABELS.items()))
    interval = IntegerField(
        "Every N weeks or months", default=2, validators=[NumberRange(min=1, max=12)]
    )
    weekday = SelectField("Weekday", coerce=int, choices=list(enumerate(WEEKDAYS)))
    nth = SelectField(
        "Which weekday of the month",
        coerce=int,
        default=1,
        choices=[(n, label.capitalize()) for n, label in NTH_LABELS.items()],
    )
    local_hour = IntegerField("Hour (local)", default=9, validators=[NumberRange(min=0, max=23)])
    timezone = StringField("Time zone (IANA)", validators=[DataRequired(), Length(max=64)])
    window_days = IntegerField(
        "Answer window (days)", default=5, validators=[NumberRange(min=1, max=28)]
    )
    reminder_1 = IntegerField(
        "First reminder (hours after opening)", validators=[Optional(), NumberRange(min=1)]
    )
    reminder_2 = IntegerField(
        "Second reminder (hours after opening)", validators=[Optional(), NumberRange(min=1)]
    )
    start_date = DateField("Start date", validators=[DataRequired()])
    end_date = DateField("End date (optional)", validators=[Optional()])
    targets = SelectMultipleField("Teams (each includes its subtree)", coerce=int)

    def spec(self) -> ScheduleSpec:
        reminders = [h for h in (self.reminder_1.data, self.reminder_2.data) if h]
        return ScheduleSpec(
            name=self.name.data or "",
            program=self.program.data,
            cadence=self.cadence.data,
            interval=self.interval.data or 1,
            weekday=self.weekday.data,
            nth=self.nth.data,
            local_hour=self.local_hour.data if self.local_hour.data is not None else 9,
            timezone=(self.timezone.data or "").strip(),
            window_days=self.window_days.data or 0,
            reminder_hours=reminders,
            start_date=self.start_date.data,
            end_date=self.end_date.data,
            target_team_ids=list(self.targets.data or []),
        )


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A CSRF-protected button (pause, resume, delete)."""


def _actor() -> Person:
    person: Person = current_user.person()
    return person


def _form(schedule: Schedule | None = None) -> ScheduleForm:
    form = ScheduleForm(obj=None)
    form.targets.choices = [
        (node.team.id, "\u2003" * node.depth + node.team.name)
        for node in team_tree(db.session, include_archived=False)
    ]
    if request.method == "GET":
        if schedule is None:
            form.timezone.data = get_settings(db.session).timezone
            form.start_date.data = date.today()
            form.reminder_1.data = 48
        else:
            spec = spec_of(schedule)
            for key in ("name", "program", "cadence", "interval", "weekday", "local_hour"):
                getattr(form, key).data = getattr(spec, key)
            form.nth.data = spec.nth or 1
            form.timezone.data = spec.timezone
            form.window_days.data = spec.window_days
            form.reminder_1.data = spec.reminder_hours[0] if spec.reminder_hours else None
            form.reminder_2.data = spec.reminder_hours[1] if len(spec.reminder_hours) > 1 else None
            form.start_date.data = spec.start_date
            form.end_date.data = spec.end_date
            form.targets.data = spec.target_team_ids
    return form


def _preview(spec: ScheduleSpec, schedule: Schedule | None) -> dict[str, Any]:
    """The next five send times, the email and the survey, exactly as they would go out."""
    times = next_send_times(spec, utcnow(), count=5)
    last = (
        db.session.scalar(
            select(Cycle.sequence)
            .where(Cycle.schedule_id == schedule.id)
            .order_by(Cycle.sequence.desc())
            .limit(1)
        )
        if schedule is not None
        else None
    )
    sequence = 0 if last is None else last + 1
    live = current_items(db.session)
    items = [live[code] for code in items_for_cycle(spec.program, sequence) if code in live]
    email = None
    if times and items:
        tz = zone(spec.timezone)
        closes = closing_time(times[0].replace(tzinfo=None), spec.window_days, tz)
        shared = cycle_email(
            db.session,
            items=items,
            closes_at=closes,
            timezone=spec.timezone,
            base_url=request.host_url.rstrip("/"),
        )
        email = render_message(shared, to="someone@example.org", name="Sam", token=PREVIEW_TOKEN)
    return {"times": times, "items": items, "email": email}


def _audit_detail(spec: ScheduleSpec) -> dict[str, Any]:
    detail = asdict(spec)
    detail["start_date"] = spec.start_date.isoformat()
    detail["end_date"] = spec.end_date.isoformat() if spec.end_date else None
    return detail


def _edit(schedule: Schedule | None) -> Response | tuple[str, int] | str:
    form = _form(schedule)
    preview = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        else:
            spec = form.spec()
            try:
                spec.validate()
                if "save" in request.form:
                    if schedule is None:
                        saved = create_schedule(db.session, spec=spec)
                        action = "schedule.create"
                    else:
                        saved = update_schedule(db.session, schedule=schedule, spec=spec)
                        action = "schedule.update"
                    record(
                        db.session,
                        actor=_actor(),
                        action=action,
                        target=saved.name,
                        detail=_audit_detail(spec),
                    )
                    db.session.commit()
                    flash(f"Schedule “{saved.name}” saved.", "success")
                    return redirect(url_for("admin.schedules"))
                preview = _preview(spec, schedule)
            except ValueError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
                status = 422
    page = render_template(
        "admin/schedules_form.html",
        form=form,
        schedule=schedule,
        preview=preview,
        programs=PROGRAMS,
    )
    return page, status


@blueprint.route("/schedules")
@admin_required
def schedules() -> str:
    rows = []
    now = utcnow()
    for schedule in db.session.scalars(select(Schedule).order_by(Schedule.name)):
        open_cycles = db.session.scalars(
            select(Cycle).where(Cycle.schedule_id == schedule.id, Cycle.status == "open")
        ).all()
        failures = db.session.execute(
            select(Person.email, Invitation.last_error)
            .join(Person, Person.id == Invitation.person_id)
            .where(
                Invitation.cycle_id.in_([c.id for c in open_cycles]),
                Invitation.delivery_state == "failed",
            )
            .order_by(Person.email)
        ).all()
        team_names = db.session.scalars(
            select(Team.name).where(Team.id.in_([t.team_id for t in schedule.targets]))
        ).all()
        rows.append(
            {
                "schedule": schedule,
                "describe": describe(schedule),
                "teams": team_names,
                "next": None
                if schedule.paused
                else next(iter(next_send_times(schedule, now, 1)), None),
                "cycles": [(c, delivery_counts(db.session, cycle_id=c.id)) for c in open_cycles],
                "failures": failures,
            }
        )
    return render_template("admin/schedules.html", rows=rows, action_form=ConfirmForm())


@blueprint.route("/schedules/new", methods=["GET", "POST"])
@admin_required
def schedule_new() -> Response | tuple[str, int] | str:
    return _edit(None)


def _schedule_or_404(schedule_id: int) -> Schedule:
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        abort(404, description="There is no schedule with that number.")
    return schedule


@blueprint.route("/schedules/<int:schedule_id>/edit", methods=["GET", "POST"])
@admin_required
def schedule_edit(schedule_id: int) -> Response | tuple[str, int] | str:
    return _edit(_schedule_or_404(schedule_id))


@blueprint.route("/schedules/<int:schedule_id>/pause", methods=["POST"])
@admin_required
def schedule_pause(schedule_id: int) -> Response:
    schedule = _schedule_or_404(schedule_id)
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    paused = request.form.get("paused") == "1"
    set_paused(db.session, schedule=schedule, paused=paused)
    record(
        db.session,
        actor=_actor(),
        action="schedule.pause" if paused else "schedule.resume",
        target=schedule.name,
    )
    db.session.commit()
    flash(f"Schedule “{schedule.name}” {'paused' if paused else 'resumed'}.", "success")
    return redirect(url_for("admin.schedules"))


@blueprint.route("/schedules/<int:schedule_id>/delete", methods=["POST"])
@admin_required
def schedule_delete(schedule_id: int) -> Response:
    schedule = _schedule_or_404(schedule_id)
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    name = schedule.name
    delete_schedule(db.session, schedule=schedule)
    record(db.session, actor=_actor(), action="schedule.delete", target=name)
    db.session.commit()
    flash(f"Schedule “{name}” deleted; its past cycles are kept.", "success")
    return redirect(url_for("admin.schedules"))
