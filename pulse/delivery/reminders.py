"""Reminders: non-responders only, at the schedule's offsets, at most two, never after close.

A reminder goes only to people whose invitation went out before that reminder was due. An
invitation sent late (the workers were down when the cycle opened, or the person joined the
team mid-cycle) already reaches them after the reminder's time: sending the reminder a
minute later would only be a second email about the same thing.

A reminder never takes a link away before the new one is on its way: the new token's hash is
stored only after the server accepted the reminder, and only if the person has not answered
meanwhile (their revision key depends on the link they answered with). A claim holds for
`LEASE`; a reminder that failed temporarily is tried again after it, while the cycle is open.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.emails import CycleEmail, email_for_cycle, render_message
from pulse.delivery.mail import Mailer, PermanentMailError, TemporaryMailError, open_mailer
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.sending import (
    LEASE,
    Claimed,
    MailerFactory,
    SendReport,
    claim,
    cycle_is_open,
)
from pulse.delivery.tokens import new_token, token_hash
from pulse.surveys.models import Cycle, Schedule

MAX_REMINDERS = 2


def reminders_due(cycle: Cycle, hours: list[int], now: datetime) -> int:
    """How many of the schedule's reminders (at most two) are due for the cycle at `now`."""
    if now >= cycle.closes_at:
        return 0
    offsets = sorted(int(h) for h in hours)[:MAX_REMINDERS]
    return sum(1 for h in offsets if cycle.opens_at + timedelta(hours=h) <= now)


def latest_due_at(cycle: Cycle, hours: list[int], due: int) -> datetime:
    """When the latest of the `due` reminders became due."""
    offsets = sorted(int(h) for h in hours)[:MAX_REMINDERS]
    return cycle.opens_at + timedelta(hours=offsets[due - 1])


def _remindable(due: int, due_at: datetime, now: datetime) -> ColumnElement[bool]:
    return and_(
        Invitation.answered.is_(False),
        Invitation.delivery_state == "sent",
        Invitation.sent_at < due_at,
        Invitation.reminders_sent < due,
        or_(Invitation.last_reminded_at.is_(None), Invitation.last_reminded_at <= now - LEASE),
    )


def cycles_with_due_reminders(session: Session, *, now: datetime) -> list[int]:
    """Open cycles where some non-responder is due a reminder."""
    found = []
    rows = session.execute(
        select(Cycle, Schedule.reminder_hours)
        .join(Schedule, Schedule.id == Cycle.schedule_id)
        .where(cycle_is_open(now))
        .order_by(Cycle.id)
    ).all()
    for cycle, hours in rows:
        due = reminders_due(cycle, list(hours or []), now)
        if not due:
            continue
        due_at = latest_due_at(cycle, list(hours or []), due)
        if session.scalar(
            select(exists().where(Invitation.cycle_id == cycle.id, _remindable(due, due_at, now)))
        ):
            found.append(cycle.id)
    return found


def _claim_reminders(
    session: Session, *, cycle_id: int, due: int, due_at: datetime, now: datetime
) -> list[Claimed]:
    people = claim(
        session,
        cycle_id=cycle_id,
        condition=_remindable(due, due_at, now),
        values={"last_reminded_at": now},
    )
    return [Claimed(i, new_token(), email, name) for i, email, name in people]


def send_reminders(
    session: Session,
    *,
    settings: Settings,
    cycle_id: int,
    now: datetime | None = None,
    mailer_factory: MailerFactory = open_mailer,
) -> SendReport:
    """Remind the cycle's non-responders whose reminder is due; commits each change itself.

    A missed tick sends one reminder, not two: `reminders_sent` jumps to the number due.
    """
    now = now or utcnow()
    report = SendReport()
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or cycle.status != "open" or cycle.schedule_id is None:
        return report
    schedule = session.get(Schedule, cycle.schedule_id)
    hours = list(schedule.reminder_hours or []) if schedule else []
    due = reminders_due(cycle, hours, now)
    if not due:
        return report
    due_at = latest_due_at(cycle, hours, due)
    shared = email_for_cycle(session, cycle=cycle, base_url=settings.base_url)
    claimed = _claim_reminders(session, cycle_id=cycle_id, due=due, due_at=due_at, now=now)
    session.commit()
    if not claimed:
        return report
    with mailer_factory(settings, session) as mailer:
        while claimed:
            for item in claimed:
                _remind_one(session, mailer, shared, item, due, report)
            claimed = _claim_reminders(session, cycle_id=cycle_id, due=due, due_at=due_at, now=now)
            session.commit()
    return report


def _remind_one(
    session: Session,
    mailer: Mailer,
    shared: CycleEmail,
    item: Claimed,
    due: int,
    report: SendReport,
) -> None:
    message = render_message(shared, to=item.to, name=item.name, token=item.token, reminder=True)
    try:
        mailer.send(message)
    except PermanentMailError as exc:
        # Give this reminder up; the invitation itself was delivered before.
        session.execute(
            update(Invitation)
            .where(Invitation.id == item.invitation_id)
            .values(reminders_sent=due, last_error=str(exc)[:500])
        )
        report.failed += 1
    except TemporaryMailError as exc:
        # The claim's lease runs out and a later tick tries again (before the window closes).
        session.execute(
            update(Invitation)
            .where(Invitation.id == item.invitation_id)
            .values(last_error=str(exc)[:500])
        )
        report.retrying += 1
    else:
        # The new link is stored only once the server took the message; older links stay valid.
        session.execute(
            update(Invitation)
            .where(Invitation.id == item.invitation_id)
            .values(reminders_sent=due, last_error=None)
        )
        session.add(
            InvitationLink(invitation_id=item.invitation_id, token_hash=token_hash(item.token))
        )
        report.sent += 1
    session.commit()
