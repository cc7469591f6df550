"""The scheduler tick: what is due at a given instant, done once however often it runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.surveys.models import Cycle


@dataclass
class TickReport:
    opened: int = 0
    reminded: int = 0
    closed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def close_finished_cycles(session: Session, *, now: datetime) -> list[Cycle]:
    """Close every open cycle whose window has ended."""
    due = list(
        session.scalars(
            select(Cycle).where(Cycle.status == "open", Cycle.closes_at <= now).with_for_update()
        )
    )
    for cycle in due:
        cycle.status = "closed"
        cycle.closed_at = now
    return due


def tick(session: Session, *, now: datetime) -> TickReport:
    """Run one scheduler tick at `now` (aware UTC); the caller commits."""
    if now.tzinfo is None:
        raise ValueError("tick needs an aware datetime")
    report = TickReport()
    report.closed = len(close_finished_cycles(session, now=now))
    return report
