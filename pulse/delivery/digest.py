"""Results-ready digests: when a cycle closes, each leader gets one email about it.

A run first plans: one `results_digests` row per active leader who has not opted out and whose
scope was surveyed in the cycle, inserted with ON CONFLICT DO NOTHING on (leader, cycle), so
planning twice adds nothing. Then it claims up to CLAIM_SIZE pending rows in one commit (a
conditional UPDATE … RETURNING, as invitations are claimed in pulse.delivery.sending), sends
them over one SMTP connection and commits `sent` after each message the server accepted.

- A retried or doubled task never sends a `sent` digest again, and two runs never claim the
  same row: the claim re-checks the state in the UPDATE.
- A run that fails with an exception puts the rows it had not attempted back to `pending`.
- A killed worker leaves its rows in `sending`; after LEASE they are claimed again. At most
  the one message on the wire when it died may then go out twice; the rest were certainly
  not sent. A batch of CLAIM_SIZE digests takes seconds, far inside the lease, so a live run
  never has its rows taken over.
- Whether the leader opted out, and what they may see, is read again when their row is sent:
  an opt-out between planning and sending marks the row `skipped`.

Only cycles that closed within DIGEST_WINDOW are digested: recomputing old cycles (an upgrade,
`pulse aggregate --rebuild`) finalises them again, and must not email leaders about the past.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.digest_content import digest_for, render_digest
from pulse.delivery.digest_models import ResultsDigest
from pulse.delivery.digest_prefs import (
    opted_out_ids,
    unsubscribe_token,
    unsubscribe_url,
    wants_digest,
)
from pulse.delivery.mail import (
    Mailer,
    MailMessage,
    PermanentMailError,
    TemporaryMailError,
    open_mailer,
)
from pulse.delivery.sending import retry_delay
from pulse.organisation.service import get_settings
from pulse.organisation.service import threshold as org_threshold
from pulse.people.models import Person, RoleGrant
from pulse.reporting.queries import was_surveyed
from pulse.surveys.models import Cycle
from pulse.teams.service import visible_team_ids

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
CLAIM_SIZE = 50
MAX_ATTEMPTS = 6
DIGEST_WINDOW = timedelta(days=7)

MailerFactory = Callable[[Settings, Session], AbstractContextManager[Mailer]]


@dataclass
class DigestReport:
    planned: int = 0
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0


def digestible(cycle: Cycle | None, *, now: datetime) -> bool:
    """Whether a cycle's results are final and recent enough to email leaders about."""
    return (
        cycle is not None
        and cycle.status == "closed"
        and cycle.finalised_at is not None
        and cycle.closes_at >= now - DIGEST_WINDOW
    )


def leaders_owed(session: Session, *, cycle_id: int) -> list[int]:
    """Active leaders, not opted out, with at least one team in scope surveyed in the cycle."""
    leaders = session.scalars(
        select(Person)
        .where(
            Person.active.is_(True),
            Person.id.in_(select(RoleGrant.person_id).where(RoleGrant.role == "leader")),
        )
        .order_by(Person.id)
    )
    opted_out = opted_out_ids(session)
    owed = []
    for person in leaders:
        if person.id in opted_out:
            continue
        scope = visible_team_ids(session, person=person)
        if scope and was_surveyed(session, team_ids=scope, cycle_id=cycle_id):
            owed.append(person.id)
    return owed


def plan_digests(session: Session, *, cycle_id: int, now: datetime) -> int:
    """Add a pending row for every leader owed a digest of the cycle and not yet given one."""
    people = leaders_owed(session, cycle_id=cycle_id)
    if not people:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {"person_id": p, "cycle_id": cycle_id, "state": "pending", "attempts": 0, "created_at": now}
        for p in people
    ]
    result = session.execute(
        insert(ResultsDigest)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["person_id", "cycle_id"])
        .returning(ResultsDigest.id)
    )
    return len(result.all())


def _sendable(now: datetime) -> ColumnElement[bool]:
    return or_(
        ResultsDigest.state == "pending",
        and_(ResultsDigest.state == "retry", ResultsDigest.claimed_at <= now),
        and_(ResultsDigest.state == "sending", ResultsDigest.claimed_at <= now - LEASE),
    )


def _claim(session: Session, *, cycle_id: int, now: datetime) -> list[tuple[int, int]]:
    """Take up to CLAIM_SIZE sendable digests of the cycle: (digest id, person id) each."""
    candidates = list(
        session.scalars(
            select(ResultsDigest.id)
            .where(ResultsDigest.cycle_id == cycle_id, _sendable(now))
            .order_by(ResultsDigest.id)
            .limit(CLAIM_SIZE)
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        return []
    # The condition again in the UPDATE: on SQLite the SELECT took no lock.
    claimed = session.execute(
        update(ResultsDigest)
        .where(ResultsDigest.id.in_(candidates), _sendable(now))
        .values(state="sending", claimed_at=now)
        .returning(ResultsDigest.id, ResultsDigest.person_id)
    ).all()
    session.commit()
    return sorted((digest_id, person_id) for digest_id, person_id in claimed)


def _settle(session: Session, digest_id: int, *, stamp: datetime, **values: object) -> bool:
    """Write the outcome of a claimed row, if the claim is still ours; commit it."""
    result = session.execute(
        update(ResultsDigest)
        .where(
            ResultsDigest.id == digest_id,
            ResultsDigest.state == "sending",
            ResultsDigest.claimed_at == stamp,
        )
        .values(**values)
        .returning(ResultsDigest.id)
    )
    mine = result.first() is not None
    session.commit()
    return mine


def _release(session: Session, ids: list[int], *, stamp: datetime) -> None:
    """Put claimed but unattempted digests back in the queue."""
    if ids:
        session.execute(
            update(ResultsDigest)
            .where(
                ResultsDigest.id.in_(ids),
                ResultsDigest.state == "sending",
                ResultsDigest.claimed_at == stamp,
            )
            .values(state="pending", claimed_at=None)
        )
        session.commit()


def _failure(digest: ResultsDigest, error: Exception, *, permanent: bool, now: datetime) -> str:
    digest.attempts += 1
    digest.last_error = str(error)[:500]
    if permanent or digest.attempts >= MAX_ATTEMPTS:
        digest.state = "failed"
        digest.claimed_at = None
        return "failed"
    digest.state = "retry"
    digest.claimed_at = now + retry_delay(digest.attempts)
    return "retry"


class _Batch:
    """What every digest of one cycle shares while a run sends it."""

    def __init__(self, session: Session, settings: Settings, cycle: Cycle) -> None:
        self.session = session
        self.settings = settings
        self.cycle = cycle
        self.k = org_threshold(session, default=settings.threshold)
        self.organisation = get_settings(session).name

    def message_for(self, person_id: int) -> MailMessage | None:
        """The leader's rendered digest, or None when they are no longer owed one."""
        person = self.session.get(Person, person_id)
        if person is None or not person.active:
            return None
        if not wants_digest(self.session, person_id=person_id):
            return None
        token = unsubscribe_token(self.settings.secret_key, person_id=person_id)
        content = digest_for(
            self.session,
            person=person,
            cycle_id=self.cycle.id,
            closes_at=self.cycle.closes_at,
            threshold=self.k,
            organisation=self.organisation,
            base_url=self.settings.base_url,
            unsubscribe_url=unsubscribe_url(self.settings.base_url, token),
        )
        return None if content is None else render_digest(content)


def _send_batch(
    batch: _Batch,
    mailer: Mailer,
    claimed: list[tuple[int, int]],
    pending: list[int],
    stamp: datetime,
    report: DigestReport,
) -> None:
    session = batch.session
    consecutive_temporary = 0
    for digest_id, person_id in claimed:
        message = batch.message_for(person_id)
        if message is None:
            report.skipped += _settle(session, digest_id, stamp=stamp, state="skipped")
            pending.remove(digest_id)
            continue
        try:
            mailer.send(message)
        except (PermanentMailError, TemporaryMailError) as exc:
            permanent = isinstance(exc, PermanentMailError)
            digest = session.get(ResultsDigest, digest_id)
            assert digest is not None
            outcome = _failure(digest, exc, permanent=permanent, now=utcnow())
            session.commit()
            report.failed += outcome == "failed"
            report.retrying += outcome == "retry"
            consecutive_temporary += not permanent
        else:
            # With the outbox backend the stored message commits together with its mark.
            if not _settle(session, digest_id, stamp=stamp, state="sent", sent_at=utcnow()):
                log.warning("digest %s was taken over by another run while sending", digest_id)
            report.sent += 1
            consecutive_temporary = 0
        pending.remove(digest_id)
        if consecutive_temporary >= 2:
            raise TemporaryMailError("the mail server keeps deferring the results digests")


def send_results_digests(
    session: Session,
    *,
    settings: Settings,
    cycle_id: int,
    now: datetime | None = None,
    mailer_factory: MailerFactory = open_mailer,
) -> DigestReport:
    """Plan and send the digests of a closed, finalised cycle; commits each step itself.

    Raises TemporaryMailError when the mail server cannot be reached or keeps deferring
    (the claimed rows go back to pending), so the caller can retry with backoff.
    """
    now = now or utcnow()
    report = DigestReport()
    # Read afresh: the finalisation that queued this run wrote the cycle from elsewhere.
    cycle = session.get(Cycle, cycle_id, populate_existing=True)
    if cycle is None or not digestible(cycle, now=now):
        session.rollback()
        return report
    report.planned = plan_digests(session, cycle_id=cycle_id, now=now)
    session.commit()
    batch = _Batch(session, settings, cycle)
    while True:
        stamp = utcnow()
        claimed = _claim(session, cycle_id=cycle_id, now=stamp)
        if not claimed:
            break
        pending = [digest_id for digest_id, _ in claimed]
        try:
            # One SMTP connection per claimed batch.
            with mailer_factory(settings, session) as mailer:
                _send_batch(batch, mailer, claimed, pending, stamp, report)
        except Exception:
            session.rollback()
            _release(session, pending, stamp=stamp)
            raise
    log.info("cycle %s digests: %s", cycle_id, report)
    return report


def cycles_owing_digests(session: Session, *, now: datetime | None = None) -> list[int]:
    """Recent finalised cycles with digests still to send (planning them first), for the
    sweep that re-runs a digest task which died or was lost."""
    now = now or utcnow()
    recent = list(
        session.scalars(
            select(Cycle.id)
            .where(
                Cycle.status == "closed",
                Cycle.finalised_at.is_not(None),
                Cycle.closes_at >= now - DIGEST_WINDOW,
            )
            .order_by(Cycle.closes_at)
        )
    )
    owing = []
    for cycle_id in recent:
        plan_digests(session, cycle_id=cycle_id, now=now)
        session.commit()
        sendable = exists().where(ResultsDigest.cycle_id == cycle_id, _sendable(now))
        if session.scalar(select(sendable)):
            owing.append(cycle_id)
    session.rollback()
    return owing
