"""Emailing a share's link to its team, in batches, each person once.

Every person of a share has one ShareDelivery row (unique per share × person). A run claims a
batch of unsent rows in one commit (`claimed_at`, a conditional UPDATE … RETURNING, so two
runs never take the same row), sends them over one mail connection and commits `sent_at`
after each message the server accepted. A temporary failure gives the rest of the batch back
and raises, for the task to retry; a permanent one is recorded on the row and never retried.
A worker killed mid-batch leaves its rows claimed: after LEASE they are claimed again, so at
most the message on the wire when it died can go out twice.

A share revoked or expired before its emails went out sends nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.mail import Mailer, PermanentMailError, TemporaryMailError, open_mailer
from pulse.organisation.service import get_settings
from pulse.people.models import Person
from pulse.reporting.context import ReportContext
from pulse.sharing.emails import ShareEmail, render_share_message
from pulse.sharing.models import ShareDelivery, TeamShare
from pulse.sharing.service import share_link
from pulse.sharing.tokens import share_token, token_hash
from pulse.surveys.models import Cycle

log = logging.getLogger(__name__)

BATCH = 50
LEASE = timedelta(minutes=10)

MailerFactory = Callable[[Settings, Session], AbstractContextManager[Mailer]]


@dataclass
class ShareSendReport:
    sent: int = 0
    failed: int = 0


def _sendable(share_id: int, now: datetime) -> ColumnElement[bool]:
    return and_(
        ShareDelivery.share_id == share_id,
        ShareDelivery.sent_at.is_(None),
        ShareDelivery.failed.is_(None),
        or_(ShareDelivery.claimed_at.is_(None), ShareDelivery.claimed_at <= now - LEASE),
    )


def _claim(session: Session, *, share_id: int, now: datetime) -> list[tuple[int, str, str]]:
    """Take up to BATCH unsent deliveries of the share; (delivery id, email, name), committed."""
    candidates = list(
        session.scalars(
            select(ShareDelivery.id)
            .where(_sendable(share_id, now))
            .order_by(ShareDelivery.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        session.commit()
        return []
    # The condition again in the UPDATE: on SQLite the SELECT locks nothing, and a row another
    # run claimed meanwhile must not come back here.
    claimed = list(
        session.scalars(
            update(ShareDelivery)
            .where(ShareDelivery.id.in_(candidates), _sendable(share_id, now))
            .values(claimed_at=now)
            .returning(ShareDelivery.id)
        )
    )
    rows = session.execute(
        select(ShareDelivery.id, Person.email, Person.name, Person.active)
        .join(Person, Person.id == ShareDelivery.person_id)
        .where(ShareDelivery.id.in_(claimed))
        .order_by(ShareDelivery.id)
    ).all()
    # Someone who left after the share was made is not emailed.
    gone = [i for i, _, _, active in rows if not active]
    if gone:
        session.execute(
            update(ShareDelivery).where(ShareDelivery.id.in_(gone)).values(failed="inactive")
        )
    session.commit()
    return [(i, email, name) for i, email, name, active in rows if active]


def _share_email(session: Session, *, settings: Settings, share: TeamShare) -> ShareEmail:
    cycle = session.get(Cycle, share.cycle_id)
    assert cycle is not None  # a share's cycle is deleted with it (ON DELETE CASCADE)
    context = ReportContext.load(session, threshold=settings.threshold)
    leader = session.get(Person, share.created_by) if share.created_by else None
    return ShareEmail(
        organisation=get_settings(session).name,
        team=context.names_in(session, share.cycle_id)[share.team_id][0],
        leader=leader.name if leader is not None else "Your team leader",
        opened=cycle.opens_at.date(),
        expires=share.expires_at,
        link=share_link(settings.base_url, secret=settings.secret_key, share=share),
    )


def send_share_emails(
    session: Session,
    *,
    settings: Settings,
    share_id: int,
    mailer_factory: MailerFactory = open_mailer,
    clock: Callable[[], datetime] = utcnow,
) -> ShareSendReport:
    """Send the share's unsent emails, batch after batch, until none are left."""
    report = ShareSendReport()
    share = session.get(TeamShare, share_id)
    if share is None or share.revoked_at is not None or share.expires_at <= clock():
        session.rollback()
        return report
    if token_hash(share_token(settings.secret_key, share.token_salt)) != share.token_hash:
        # The secret key changed since the share was made: its link cannot be made again,
        # and an email with another link would open nothing. The leader shares anew.
        log.warning("share %s: made under another secret key; no email sent", share_id)
        session.rollback()
        return report
    email = _share_email(session, settings=settings, share=share)
    while True:
        now = clock()
        batch = _claim(session, share_id=share_id, now=now)
        if not batch:
            return report
        with mailer_factory(settings, session) as mailer:
            for index, (delivery_id, to, name) in enumerate(batch):
                delivery = session.get(ShareDelivery, delivery_id)
                assert delivery is not None
                try:
                    mailer.send(render_share_message(email, to=to, name=name))
                except PermanentMailError as exc:
                    delivery.failed = str(exc)[:300]
                    report.failed += 1
                    session.commit()
                    log.warning("share %s: a member's address was refused: %s", share_id, exc)
                    continue
                except TemporaryMailError:
                    # Give back what this run has not attempted yet; the task retries.
                    rest = [d for d, _, _ in batch[index:]]
                    session.execute(
                        update(ShareDelivery)
                        .where(ShareDelivery.id.in_(rest), ShareDelivery.claimed_at == now)
                        .values(claimed_at=None)
                    )
                    session.commit()
                    raise
                delivery.sent_at = clock()
                session.commit()
                report.sent += 1
