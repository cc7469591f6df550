"""Reading the audit log: filter by actor, action and date range, one page at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pulse.audit.models import AuditEvent

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", max(1, math.ceil(self.total / self.per_page)))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def search_events(
    session: Session,
    *,
    actor: str = "",
    action: str = "",
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> EventPage:
    """Events newest first; `actor` matches part of the email, `action` a prefix, dates in UTC."""
    if since and until and since > until:
        raise ValueError("the start date is after the end date")
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    conditions: list[ColumnElement[bool]] = []
    if actor.strip():
        conditions.append(AuditEvent.actor_email.like(f"%{actor.strip().lower()}%"))
    if action.strip():
        conditions.append(AuditEvent.action.like(f"{action.strip()}%"))
    if since:
        conditions.append(AuditEvent.at >= _day_start(since))
    if until:
        # Inclusive of the whole last day.
        conditions.append(AuditEvent.at < _day_start(until + timedelta(days=1)))
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(*conditions)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return EventPage(events=events, total=total, page=page, per_page=per_page)


def known_actions(session: Session) -> list[str]:
    """Every action name recorded so far, for the filter's choices."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
