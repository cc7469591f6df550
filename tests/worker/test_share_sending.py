"""A share's emails through a real SMTP server: batches, claims, failures, each person once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.mail import TemporaryMailError
from pulse.people.models import Person
from pulse.sharing import sending
from pulse.sharing.models import ShareDelivery, TeamShare
from pulse.sharing.sending import LEASE, send_share_emails
from pulse.sharing.service import revoke_share, share_report
from tests.conftest import make_settings
from tests.support.smtp import SMTPServer
from tests.webapp.report_world import K, ReportWorld, build_world
from worker.embedded_redis import EmbeddedRedis

RECIPIENTS = K + 2  # those of Target who answered and the two who did not


@pytest.fixture
def settings(database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer) -> Settings:
    return make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_HOST="127.0.0.1",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
    )


@pytest.fixture
def shared(
    session: Session, settings: Settings, make_user: Callable[..., Person]
) -> tuple[ReportWorld, TeamShare, Person]:
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    share, created = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=settings.secret_key,
        threshold=K,
    )
    assert created
    session.commit()
    return world, share, leader


def _emails_in_order(session: Session, share: TeamShare) -> list[str]:
    query = (
        select(Person.email)
        .join(ShareDelivery, ShareDelivery.person_id == Person.id)
        .where(ShareDelivery.share_id == share.id)
        .order_by(ShareDelivery.id)
    )
    return list(session.scalars(query))


def test_batches_each_go_over_one_connection_and_reach_everyone_once(
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    shared: tuple[ReportWorld, TeamShare, Person],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, share, _ = shared
    monkeypatch.setattr(sending, "BATCH", 3)
    report = send_share_emails(session, settings=settings, share_id=share.id)
    assert (report.sent, report.failed) == (RECIPIENTS, 0)
    mailbox = smtp_server.mailbox
    assert sorted(mailbox.recipients()) == sorted(_emails_in_order(session, share))
    assert len(set(mailbox.peers)) == 3  # 3 + 3 + 1
    # A second run (a retried or redelivered task) finds nothing left.
    assert send_share_emails(session, settings=settings, share_id=share.id).sent == 0
    assert max(Counter(mailbox.recipients()).values()) == 1


def test_a_temporary_failure_gives_the_rest_back_and_a_retry_sends_only_those(
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    shared: tuple[ReportWorld, TeamShare, Person],
) -> None:
    _, share, _ = shared
    order = _emails_in_order(session, share)
    smtp_server.mailbox.refuse[order[3]] = (451, "try again later")
    with pytest.raises(TemporaryMailError):
        send_share_emails(session, settings=settings, share_id=share.id)
    assert smtp_server.mailbox.recipients() == order[:3]
    session.expire_all()
    waiting = session.scalars(
        select(ShareDelivery).where(
            ShareDelivery.share_id == share.id, ShareDelivery.sent_at.is_(None)
        )
    ).all()
    assert len(waiting) == RECIPIENTS - 3 and all(d.claimed_at is None for d in waiting)
    smtp_server.mailbox.refuse.clear()
    report = send_share_emails(session, settings=settings, share_id=share.id)
    assert report.sent == RECIPIENTS - 3
    assert sorted(smtp_server.mailbox.recipients()) == sorted(order)


def test_a_refused_address_is_recorded_and_never_retried(
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    shared: tuple[ReportWorld, TeamShare, Person],
) -> None:
    _, share, _ = shared
    order = _emails_in_order(session, share)
    smtp_server.mailbox.refuse[order[0]] = (550, "no such mailbox")
    report = send_share_emails(session, settings=settings, share_id=share.id)
    assert (report.sent, report.failed) == (RECIPIENTS - 1, 1)
    assert send_share_emails(session, settings=settings, share_id=share.id).sent == 0
    session.expire_all()
    failed = session.scalars(select(ShareDelivery.failed).where(ShareDelivery.failed.is_not(None)))
    assert [reason[:3] for reason in failed] == ["550"]


def test_a_live_claim_is_left_alone_and_a_dead_one_is_taken_after_the_lease(
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    shared: tuple[ReportWorld, TeamShare, Person],
) -> None:
    _, share, _ = shared
    now = utcnow()
    session.execute(
        update(ShareDelivery).where(ShareDelivery.share_id == share.id).values(claimed_at=now)
    )
    session.commit()
    assert send_share_emails(session, settings=settings, share_id=share.id).sent == 0
    later = now + LEASE + timedelta(seconds=1)
    report = send_share_emails(session, settings=settings, share_id=share.id, clock=lambda: later)
    assert report.sent == RECIPIENTS
    assert len(smtp_server.mailbox.recipients()) == RECIPIENTS


def test_a_stopped_share_sends_nothing_and_someone_who_left_is_not_emailed(
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    shared: tuple[ReportWorld, TeamShare, Person],
) -> None:
    world, share, leader = shared
    order = _emails_in_order(session, share)
    gone = session.scalar(select(Person).where(Person.email == order[0]))
    assert gone is not None
    gone.active = False
    session.commit()
    report = send_share_emails(session, settings=settings, share_id=share.id)
    assert report.sent == RECIPIENTS - 1
    assert order[0] not in smtp_server.mailbox.recipients()

    smtp_server.mailbox.clear()
    revoke_share(session, team_id=world.target.id, cycle_id=world.cycle.id, actor=leader)
    session.commit()
    again, created = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=settings.secret_key,
        threshold=K,
    )
    assert created and again.id != share.id
    session.commit()
    revoke_share(session, team_id=world.target.id, cycle_id=world.cycle.id, actor=leader)
    session.commit()
    assert send_share_emails(session, settings=settings, share_id=again.id).sent == 0
    assert smtp_server.mailbox.recipients() == []


def test_a_share_made_under_another_secret_key_sends_no_dead_link(
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    shared: tuple[ReportWorld, TeamShare, Person],
) -> None:
    _, share, _ = shared
    rotated = replace(settings, secret_key="a-rotated-secret-key-that-is-long-enough")
    assert send_share_emails(session, settings=rotated, share_id=share.id).sent == 0
    assert smtp_server.mailbox.recipients() == []
    assert send_share_emails(session, settings=settings, share_id=share.id).sent == RECIPIENTS
