"""`pulse tick`: one scheduler tick, run synchronously."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from pulse.db import utcnow
from pulse.surveys.scheduler import tick as run_tick
from webapp.cli.context import with_app
from webapp.extensions import db


def parse_instant(value: str | None) -> datetime:
    """An ISO-8601 instant; a value without a zone is taken as UTC."""
    if value is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date and time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@click.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Pretend it is this instant.")
@with_app
def tick(now_text: str | None) -> None:
    """Open due cycles, send due reminders and close finished cycles, once."""
    now = parse_instant(now_text)
    report = run_tick(db.session, now=now)
    db.session.commit()
    click.echo(
        f"Tick at {now.isoformat()}: opened {report.opened}, "
        f"reminded {report.reminded}, closed {report.closed}."
    )
