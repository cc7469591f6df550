"""`pulse tick`: one scheduler tick with its deliveries, run synchronously."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import current_app

from pulse.db import utcnow
from pulse.delivery.mail import TemporaryMailError
from pulse.delivery.reminders import send_reminders
from pulse.delivery.sending import SendReport, send_invitations
from pulse.organisation.service import configured_defaults
from pulse.surveys.scheduler import tick as run_tick
from pulse.webhooks.events import owe_results_ready
from webapp.cli.context import with_app
from webapp.extensions import db

FINALISE_TASK = "worker.aggregation.finalise_cycle"


def parse_instant(value: str | None) -> datetime:
    """An ISO-8601 instant; a value without a zone is taken as UTC."""
    if value is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date and time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _finalise(cycle_id: int) -> bool:
    """Run the aggregation worker's finalisation in this process, if that task exists."""
    celery = current_app.extensions["celery"]
    celery.loader.import_default_modules()
    task = celery.tasks.get(FINALISE_TASK)
    if task is None:
        return False
    task.apply(args=[cycle_id], throw=True)
    return True


def run_tick_now(now: datetime) -> tuple[int, int, int, SendReport]:
    """Tick, then send, remind and finalise in this process (what the worker fans out)."""
    settings = current_app.config["PULSE"]
    report = run_tick(db.session, now=now, defaults=configured_defaults(settings))
    db.session.commit()
    sent = SendReport()
    for cycle_id in report.sending_cycle_ids:
        try:
            result = send_invitations(db.session, settings=settings, cycle_id=cycle_id, now=now)
        except TemporaryMailError as exc:
            click.secho(f"Cycle {cycle_id}: mail server unavailable ({exc})", fg="yellow", err=True)
            continue
        sent.sent += result.sent
        sent.retrying += result.retrying
        sent.failed += result.failed
    reminded = 0
    for cycle_id in report.reminder_cycle_ids:
        try:
            reminded += send_reminders(
                db.session, settings=settings, cycle_id=cycle_id, now=now
            ).sent
        except TemporaryMailError as exc:
            click.secho(f"Cycle {cycle_id}: mail server unavailable ({exc})", fg="yellow", err=True)
    for cycle_id in report.closed_cycle_ids:
        if not _finalise(cycle_id):
            click.echo(f"Cycle {cycle_id} closed; its final aggregation runs in the worker.")
            continue
        # Owed here, sent by the worker's webhook sweep like the tick's own deliveries.
        owe_results_ready(db.session, cycle_id=cycle_id, now=now)
        db.session.commit()
    return report.opened, reminded, report.closed, sent


@click.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Pretend it is this instant.")
@with_app
def tick(now_text: str | None) -> None:
    """Open due cycles, send invitations and due reminders, close finished cycles, once."""
    now = parse_instant(now_text)
    opened, reminded, closed, sent = run_tick_now(now)
    click.echo(
        f"Tick at {now.isoformat()}: opened {opened}, sent {sent.sent} invitation(s) "
        f"({sent.retrying} to retry, {sent.failed} failed), reminded {reminded}, "
        f"closed {closed}."
    )
