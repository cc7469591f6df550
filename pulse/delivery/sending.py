"""Sending invitations and reminders in batches, with a per-invitation state machine.

Invitation states: pending → sending → sent, or → retry (temporary failure, `sent_at` holds
when the next attempt is due) → … → failed (permanent failure or too many attempts, reason in
`last_error`, shown to admins).

A run claims a group of invitations in one commit (state `sending`, `sent_at` = the time of
that claim, a fresh token whose hash replaces any older one), then sends them over one SMTP
connection and commits `sent` after each message the server accepted. While it sends, it renews
the stamp of the rows it still holds every `RENEW_EVERY`; the renewal is conditional on the
stamp it wrote, so it also tells the run which rows are still its own. A run stamping every
claim with its start time had its later groups re-claimed by the next tick once it outlasted
the lease, while it was still sending them: 351 emails to 300 people. So:

- a retry or a second worker never sends a `sent` invitation again, and two runs never claim
  the same row (the claim is a conditional UPDATE … RETURNING);
- a run that fails with an exception puts the claimed rows it had not attempted back to
  `pending`, so they go out on the next run;
- a live run, however long, keeps its rows: their stamp is never older than `RENEW_EVERY`
  plus one message, far inside `LEASE`;
- a killed worker leaves its claimed rows in `sending`. After `LEASE` they are claimed again
  and sent. All of them but, at most, the single message that was on the wire when the worker
  died had certainly not been sent; that one may have been. We resend it rather than risk
  leaving someone without an invitation: a duplicate email (whose older link then says it was
  replaced) is the lesser harm than a person silently left out of the pulse. So: nobody is
  skipped, and nothing is sent twice except possibly one message per killed worker.

Several runs may send one cycle at once (the worker fans a cycle out to as many tasks as it
has batches): each claims its own groups, over its own SMTP connection, until none are left.

Reminders live in `pulse.delivery.reminders`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import UTCDateTime, utcnow
from pulse.delivery.emails import CycleEmail, email_for_cycle, render_message
from pulse.delivery.mail import Mailer, PermanentMailError, TemporaryMailError, open_mailer
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.tokens import new_token, token_hash
from pulse.people.models import Person
from pulse.surveys.models import Cycle

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
# A quarter of the lease: a renewal can be late by a slow message or two and still hold.
RENEW_EVERY = LEASE / 4
CLAIM_SIZE = 100
MAX_ATTEMPTS = 6

MailerFactory = Callable[[Settings, Session], AbstractContextManager[Mailer]]
Clock = Callable[[], datetime]


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


_invitations = cast(Table, Invitation.__table__)
_MARK_SENT = (
    update(_invitations)
    .where(_invitations.c.id == bindparam("invitation_id"))
    .values(
        delivery_state="sent",
        sent_at=bindparam("when", type_=UTCDateTime()),
        attempts=_invitations.c.attempts + 1,
        last_error=None,
    )
)


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next attempt: 1, 2, 4 … minutes, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def _sendable(now: datetime) -> ColumnElement[bool]:
    return and_(
        Invitation.answered.is_(False),
        or_(
            Invitation.delivery_state == "pending",
            and_(Invitation.delivery_state == "retry", Invitation.sent_at <= now),
            and_(Invitation.delivery_state == "sending", Invitation.sent_at <= now - LEASE),
        ),
    )


def cycle_is_open(now: datetime) -> ColumnElement[bool]:
    return and_(Cycle.status == "open", Cycle.opens_at <= now, Cycle.closes_at > now)


def cycles_with_sendable_invitations(session: Session, *, now: datetime) -> list[int]:
    """Open cycles with invitations to send now (new, due for retry, or left by a dead run)."""
    query = (
        select(Cycle.id)
        .where(
            cycle_is_open(now),
            exists().where(Invitation.cycle_id == Cycle.id, _sendable(now)),
        )
        .order_by(Cycle.id)
    )
    return list(session.scalars(query))


def batches_to_send(session: Session, *, cycle_id: int, now: datetime) -> int:
    """How many claim-sized batches the cycle has to send now: the width of its fan-out."""
    count = session.scalar(
        select(func.count()).where(Invitation.cycle_id == cycle_id, _sendable(now))
    )
    return -(-(count or 0) // CLAIM_SIZE)


@dataclass(frozen=True)
class Claimed:
    invitation_id: int
    token: str
    to: str
    name: str


def claim(
    session: Session, *, cycle_id: int, condition: ColumnElement[bool], values: dict[str, Any]
) -> list[tuple[int, str, str]]:
    """Take up to CLAIM_SIZE of the cycle's invitations matching `condition` for this run.

    Returns (invitation id, email, name) of those taken, after writing `values` on them.
    """
    candidates = list(
        session.scalars(
            select(Invitation.id)
            .where(Invitation.cycle_id == cycle_id, condition)
            .order_by(Invitation.id)
            .limit(CLAIM_SIZE)
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        return []
    # Re-checking the condition in the UPDATE makes the claim exclusive even on SQLite, where
    # the SELECT above takes no lock: a row another run claimed meanwhile is not returned.
    claimed_ids = list(
        session.scalars(
            update(Invitation)
            .where(Invitation.id.in_(candidates), condition)
            .values(**values)
            .returning(Invitation.id)
        )
    )
    if not claimed_ids:
        return []
    rows = session.execute(
        select(Invitation.id, Person.email, Person.name)
        .join(Person, Person.id == Invitation.person_id)
        .where(Invitation.id.in_(claimed_ids))
        .order_by(Invitation.id)
    ).all()
    return [(i, email, name) for i, email, name in rows]


def _claim_invitations(session: Session, *, cycle_id: int, now: datetime) -> list[Claimed]:
    """Claim a group stamped `now`: the time of this claim, which renewals move forward."""
    people = claim(
        session,
        cycle_id=cycle_id,
        condition=_sendable(now),
        values={"delivery_state": "sending", "sent_at": now},
    )
    if not people:
        return []
    tokens = {invitation_id: new_token() for invitation_id, _, _ in people}
    session.execute(
        insert(InvitationLink),
        [
            {"invitation_id": i, "token_hash": token_hash(t), "created_at": now}
            for i, t in tokens.items()
        ],
    )
    return [Claimed(i, tokens[i], email, name) for i, email, name in people]


def _renew(session: Session, ids: list[int], *, stamp: datetime, now: datetime) -> set[int]:
    """Move the claim stamp of the rows this run still holds to `now`; return their ids.

    A row is ours while it is `sending` with the stamp we wrote: one another run took over
    (because we were slower than the lease) has another stamp and is left to it.
    """
    if not ids:
        return set()
    renewed = session.scalars(
        update(Invitation)
        .where(
            Invitation.id.in_(ids),
            Invitation.delivery_state == "sending",
            Invitation.sent_at == stamp,
        )
        .values(sent_at=now)
        .returning(Invitation.id)
    )
    held = set(renewed)
    session.commit()
    return held


def _release(session: Session, ids: list[int], *, stamp: datetime) -> None:
    """Put claimed but unattempted invitations back in the queue, those still ours only."""
    if ids:
        session.execute(
            update(Invitation)
            .where(
                Invitation.id.in_(ids),
                Invitation.delivery_state == "sending",
                Invitation.sent_at == stamp,
            )
            .values(delivery_state="pending", sent_at=None)
        )


def _record_failure(
    invitation: Invitation, error: Exception, *, permanent: bool, now: datetime
) -> str:
    invitation.attempts += 1
    invitation.last_error = str(error)[:500]
    if permanent or invitation.attempts >= MAX_ATTEMPTS:
        invitation.delivery_state = "failed"
        invitation.sent_at = None
        return "failed"
    invitation.delivery_state = "retry"
    invitation.sent_at = now + retry_delay(invitation.attempts)
    return "retry"


def _settle_answered_leftovers(session: Session, *, cycle_id: int, now: datetime) -> None:
    # Someone answered from a link whose sending run died: they clearly got it.
    session.execute(
        update(Invitation)
        .where(
            Invitation.cycle_id == cycle_id,
            Invitation.answered.is_(True),
            Invitation.delivery_state.in_(("pending", "sending", "retry")),
        )
        .values(delivery_state="sent", last_error=None)
    )


def send_invitations(
    session: Session,
    *,
    settings: Settings,
    cycle_id: int,
    now: datetime | None = None,
    clock: Clock | None = None,
    mailer_factory: MailerFactory = open_mailer,
) -> SendReport:
    """Send every sendable invitation of an open cycle; commits each state change itself.

    `clock` tells the time as the run goes on (the wall clock unless `now` pins it): claims
    are stamped and renewed by it, so a long run keeps what it is sending.

    Raises TemporaryMailError when the mail server cannot be reached (nothing is lost: the
    claimed rows go back to pending), so the caller can retry with backoff.
    """
    tell = clock or _pinned(now)
    now = tell()
    report = SendReport()
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or cycle.status != "open" or not cycle.opens_at <= now < cycle.closes_at:
        return report
    shared = email_for_cycle(session, cycle=cycle, base_url=settings.base_url)
    _settle_answered_leftovers(session, cycle_id=cycle_id, now=now)
    session.commit()
    lease = _Lease(session, tell)
    claimed = lease.claim(cycle_id)
    if not claimed:
        return report
    pending_ids = [c.invitation_id for c in claimed]
    try:
        with (
            _marks_connection(session, settings) as marks,
            mailer_factory(settings, session) as mailer,
        ):
            while claimed:
                _send_group(session, marks, mailer, shared, claimed, pending_ids, report, lease)
                claimed = lease.claim(cycle_id)
                pending_ids = [c.invitation_id for c in claimed]
    except Exception:
        session.rollback()
        _release(session, pending_ids, stamp=lease.stamp)
        session.commit()
        raise
    log.info("cycle %s: sent %s, retrying %s, failed %s", cycle_id, *vars(report).values())
    return report


def _pinned(now: datetime | None) -> Clock:
    """The wall clock, or a clock stopped at `now` when the caller pins the time."""
    if now is None:
        return utcnow

    def pinned() -> datetime:
        return now

    return pinned


class _Lease:
    """The claim stamps of one run: each group stamped when claimed, renewed as it goes."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self.stamp = clock()
        self.lost: set[int] = set()

    def claim(self, cycle_id: int) -> list[Claimed]:
        self.stamp = self.clock()
        self.lost.clear()
        claimed = _claim_invitations(self.session, cycle_id=cycle_id, now=self.stamp)
        self.session.commit()
        return claimed

    def holds(self, invitation_id: int, pending_ids: list[int]) -> bool:
        """Whether this run still owns the row, renewing the stamps when they are due."""
        now = self.clock()
        if now - self.stamp >= RENEW_EVERY:
            held = _renew(self.session, pending_ids, stamp=self.stamp, now=now)
            self.lost.update(set(pending_ids) - held)
            self.stamp = now
            if self.lost:
                log.warning("%d claimed invitations were taken over by another run", len(self.lost))
        return invitation_id not in self.lost


@contextmanager
def _marks_connection(session: Session, settings: Settings) -> Iterator[Connection | None]:
    """Where "sent" marks go: a connection of their own whose every statement commits as it
    completes, or None (the session) for the outbox, whose messages are stored in the session
    and must commit together with their mark."""
    if settings.mail_backend == "outbox":
        yield None
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def _send_group(
    session: Session,
    marks: Connection | None,
    mailer: Mailer,
    shared: CycleEmail,
    claimed: list[Claimed],
    pending_ids: list[int],
    report: SendReport,
    lease: _Lease,
) -> None:
    consecutive_temporary = 0
    last_error = ""
    for item in claimed:
        if not lease.holds(item.invitation_id, pending_ids):
            # Another run took this row over after our lease lapsed: it sends it, not us.
            pending_ids.remove(item.invitation_id)
            continue
        now = lease.clock()
        message = render_message(shared, to=item.to, name=item.name, token=item.token)
        try:
            mailer.send(message)
        except (PermanentMailError, TemporaryMailError) as exc:
            invitation = session.get(Invitation, item.invitation_id)
            assert invitation is not None
            permanent = isinstance(exc, PermanentMailError)
            outcome = _record_failure(invitation, exc, permanent=permanent, now=now)
            report.failed += outcome == "failed"
            report.retrying += outcome == "retry"
            consecutive_temporary += not permanent
            last_error = invitation.last_error or ""
            session.commit()
        else:
            # The success path is taken once per person: one prebuilt UPDATE by key, committed
            # by itself on its own autocommit connection. That is the same durable "sent" mark
            # as UPDATE + COMMIT in the session, in one round trip instead of three
            # (BEGIN, UPDATE, COMMIT) on PostgreSQL.
            mark = {"invitation_id": item.invitation_id, "when": now}
            if marks is None:
                session.execute(_MARK_SENT, mark)
                session.commit()
            else:
                marks.execute(_MARK_SENT, mark)
            report.sent += 1
            consecutive_temporary = 0
        pending_ids.remove(item.invitation_id)
        if consecutive_temporary >= 2:
            # Two in a row looks like the server, not the recipients: stop and retry later.
            raise TemporaryMailError(f"mail server keeps deferring: {last_error}")


def delivery_counts(session: Session, *, cycle_id: int) -> dict[str, int]:
    """Delivery state → number of invitations, for one cycle (admin overview)."""
    rows = session.execute(
        select(Invitation.delivery_state, func.count())
        .where(Invitation.cycle_id == cycle_id)
        .group_by(Invitation.delivery_state)
    )
    return {state: count for state, count in rows}
