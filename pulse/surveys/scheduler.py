"""The scheduler tick: what is due at a given instant, done once however often it runs."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pulse.delivery.invitations import create_invitations
from pulse.delivery.reminders import cycles_with_due_reminders
from pulse.delivery.sending import cycles_with_sendable_invitations
from pulse.organisation.service import DEFAULT_THRESHOLDS, Thresholds, thresholds
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle, Schedule
from pulse.surveys.schedules import closing_time, latest_opening, period_key, zone
from pulse.webhooks.events import owe_cycle_events

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did in the database, and the delivery work it found due."""

    opened: int = 0
    reminded: int = 0
    closed: int = 0
    opened_cycle_ids: list[int] = field(default_factory=list)
    closed_cycle_ids: list[int] = field(default_factory=list)
    sending_cycle_ids: list[int] = field(default_factory=list)
    reminder_cycle_ids: list[int] = field(default_factory=list)
    webhook_delivery_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def close_finished_cycles(session: Session, *, now: datetime) -> list[int]:
    """Close every open cycle whose window has ended; returns their ids.

    This UPDATE is the tick's first statement on purpose: it takes the write lock at once, so
    on SQLite two ticks queue behind each other instead of one failing on a stale snapshot.
    """
    closed = session.scalars(
        update(Cycle)
        .where(Cycle.status == "open", Cycle.closes_at <= now)
        .values(status="closed", closed_at=now)
        .returning(Cycle.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(closed)
    for cycle in session.identity_map.values():
        if isinstance(cycle, Cycle) and cycle.id in ids:
            session.expire(cycle, ["status", "closed_at"])
    return ids


def open_due_cycle(
    session: Session,
    *,
    schedule: Schedule,
    now: datetime,
    defaults: Thresholds = DEFAULT_THRESHOLDS,
) -> Cycle | None:
    """Open the schedule's latest due period if its window is still running and it is not open.

    The new cycle locks the organisation's thresholds in force, `defaults` (the configured
    PULSE_THRESHOLD* values) standing in for any kind never set.

    Only the latest period is considered, so a worker that was down for hours catches up once;
    a period whose window already ended is never opened. The unique (schedule, period) key
    settles a race with a concurrent tick: the loser's savepoint rolls back and it moves on.
    """
    if schedule.paused or not schedule.targets:
        return None
    due = latest_opening(schedule, now)
    if due is None:
        return None
    local_opening, opens_at = due
    closes_at = closing_time(local_opening, schedule.window_days, zone(schedule.timezone))
    if now >= closes_at:
        return None
    key = period_key(local_opening)
    exists = session.scalar(
        select(Cycle.id).where(Cycle.schedule_id == schedule.id, Cycle.period_key == key)
    )
    if exists is not None:
        return None
    last_sequence = session.scalar(
        select(func.max(Cycle.sequence)).where(Cycle.schedule_id == schedule.id)
    )
    in_force = thresholds(
        session,
        default=defaults.scores,
        default_participation=defaults.participation,
        default_comments=defaults.comments,
    )
    try:
        with session.begin_nested():
            cycle = create_cycle(
                session,
                schedule_id=schedule.id,
                period_key=key,
                sequence=0 if last_sequence is None else last_sequence + 1,
                program=schedule.program,
                opens_at=opens_at,
                closes_at=closes_at,
                thresholds=in_force,
            )
            create_invitations(
                session,
                cycle=cycle,
                target_team_ids={t.team_id for t in schedule.targets},
                on=local_opening.date(),
            )
    except IntegrityError:
        log.info("schedule %s period %s was opened by a concurrent tick", schedule.id, key)
        return None
    return cycle


def tick(
    session: Session, *, now: datetime, defaults: Thresholds = DEFAULT_THRESHOLDS
) -> TickReport:
    """Run one scheduler tick at `now` (aware UTC); the caller commits, then delivers.

    The tick only changes the database: it closes finished cycles, opens due ones with their
    invitations, and reports which cycles have invitations or reminders to send, so the worker
    (or `pulse tick`) can send them after the commit. Cycles it opens lock the thresholds in
    force, with `defaults` (the configured PULSE_THRESHOLD* values) for any kind never set.
    """
    if now.tzinfo is None:
        raise ValueError("tick needs an aware datetime")
    report = TickReport()
    report.closed_cycle_ids = close_finished_cycles(session, now=now)
    report.closed = len(report.closed_cycle_ids)
    for schedule in session.scalars(select(Schedule).order_by(Schedule.id)):
        cycle = open_due_cycle(session, schedule=schedule, now=now, defaults=defaults)
        if cycle is not None:
            report.opened_cycle_ids.append(cycle.id)
    report.opened = len(report.opened_cycle_ids)
    report.sending_cycle_ids = cycles_with_sendable_invitations(session, now=now)
    report.reminder_cycle_ids = cycles_with_due_reminders(session, now=now)
    # Owed in the tick's transaction: a cycle that opens or closes always has its webhooks.
    report.webhook_delivery_ids = owe_cycle_events(
        session, opened=report.opened_cycle_ids, closed=report.closed_cycle_ids, now=now
    )
    return report
