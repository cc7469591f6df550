"""Sending invitations and reminders to a real SMTP server, including interrupted runs."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.service import open_survey
from pulse.config import Settings
from pulse.db import make_engine, make_session_factory
from pulse.delivery.mail import Mailer, MailMessage, TemporaryMailError, open_mailer
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.reminders import send_reminders
from pulse.delivery.sending import LEASE, send_invitations
from pulse.delivery.tokens import token_hash
from pulse.surveys.scheduler import tick
from tests.conftest import make_settings
from tests.support.delivery_org import Org, make_org, make_schedule, token_for, tokens_in
from tests.support.smtp import SMTPServer
from worker.embedded_redis import EmbeddedRedis

OPENS = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def smtp_settings(
    database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer
) -> Settings:
    return make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_HOST="127.0.0.1",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
        PULSE_BASE_URL="http://pulse.test",
    )


def open_cycle(session: Session, sizes: dict[str, int]) -> tuple[Org, int]:
    org = make_org(session, sizes)
    make_schedule(session, org)
    report = tick(session, now=OPENS)
    session.commit()
    (cycle_id,) = report.opened_cycle_ids
    return org, cycle_id


def invitations(session: Session, cycle_id: int) -> list[Invitation]:
    session.expire_all()
    query = select(Invitation).where(Invitation.cycle_id == cycle_id).order_by(Invitation.id)
    return list(session.scalars(query))


class Killed(BaseException):
    """Stands in for SIGKILL: no except-Exception clean-up runs."""


def failing_after(count: int, error: BaseException):  # type: ignore[no-untyped-def]
    @contextmanager
    def factory(settings: Settings, session: Session) -> Iterator[Mailer]:
        with open_mailer(settings, session) as real:
            sent = 0

            class Flaky:
                def send(self, message: MailMessage) -> None:
                    nonlocal sent
                    if sent == count:
                        raise error
                    real.send(message)
                    sent += 1

            yield Flaky()

    return factory


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_every_member_gets_one_multipart_email_with_a_working_link(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 3, "Beta": 2})
    report = send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    assert report.sent == 5
    assert sorted(smtp_server.mailbox.recipients()) == org.all_emails()
    message = smtp_server.mailbox.messages[0]
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<img" not in html and 'style="' in html
    assert "Strongly agree" in text and "Strongly agree" in html
    assert "?a=" in html  # the first anchor as one-click buttons
    rows = invitations(session, cycle_id)
    assert {r.delivery_state for r in rows} == {"sent"}
    for address in org.all_emails():
        token = token_for(smtp_server.mailbox.messages, address)
        assert len(token) >= 22  # ≥ 128 bits of URL-safe base64
    stored = set(session.scalars(select(InvitationLink.token_hash)))
    sent = {token_hash(t) for m in smtp_server.mailbox.messages for t in tokens_in(m)}
    assert stored == sent  # only hashes are stored, and they match what was sent
    # A second run (a retried task) sends nothing.
    again = send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    assert again.sent == 0
    assert len(smtp_server.mailbox.messages) == 5


def test_a_run_failing_midway_releases_the_rest_and_a_rerun_sends_each_once(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 7})
    with pytest.raises(RuntimeError):
        send_invitations(
            session,
            settings=smtp_settings,
            cycle_id=cycle_id,
            now=OPENS,
            mailer_factory=failing_after(3, RuntimeError("worker lost its connection")),
        )
    assert Counter(r.delivery_state for r in invitations(session, cycle_id)) == {
        "sent": 3,
        "pending": 4,
    }
    send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    assert Counter(smtp_server.mailbox.recipients()) == Counter(org.all_emails())


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_killed_run_is_resumed_after_the_lease_and_nobody_gets_two(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 6, "Beta": 4})
    with pytest.raises(Killed):
        send_invitations(
            session,
            settings=smtp_settings,
            cycle_id=cycle_id,
            now=OPENS,
            mailer_factory=failing_after(4, Killed()),
        )
    session.rollback()
    assert Counter(r.delivery_state for r in invitations(session, cycle_id)) == {
        "sent": 4,
        "sending": 6,
    }
    # A retry while the dead run's lease still holds sends nothing (it could still be alive).
    early = send_invitations(
        session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS + timedelta(minutes=1)
    )
    assert early.sent == 0
    later = OPENS + LEASE + timedelta(seconds=1)
    assert tick(session, now=later).sending_cycle_ids == [cycle_id]
    session.commit()
    send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=later)
    assert Counter(smtp_server.mailbox.recipients()) == Counter(org.all_emails())
    assert {r.delivery_state for r in invitations(session, cycle_id)} == {"sent"}


class SteppingClock:
    """The time a run reads; the test moves it on as messages go out."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_run_outlasting_its_lease_is_not_reclaimed_while_alive_and_nobody_gets_two(
    session: Session, database_url: str, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    # The operator's reproduction: 300 people, a slow relay, beat ticking every minute and
    # each tick sending what it finds sendable. A run stamping every claim with its start
    # time had its rows re-claimed by the ticks after ten minutes: 351 emails for 300.
    org, cycle_id = open_cycle(session, {"Alpha": 300})
    clock = SteppingClock(OPENS)
    ticks = make_session_factory(make_engine(database_url))
    tick_sent: list[int] = []

    @contextmanager
    def slow_relay(settings: Settings, run_session: Session) -> Iterator[Mailer]:
        with open_mailer(settings, run_session) as real:

            class Slow:
                def send(self, message: MailMessage) -> None:
                    real.send(message)
                    before = clock.now
                    clock.now += timedelta(seconds=8)  # 100 messages: 13 minutes > LEASE
                    if clock.now.minute != before.minute:
                        with ticks() as other:
                            report = send_invitations(
                                other, settings=settings, cycle_id=cycle_id, now=clock.now
                            )
                            tick_sent.append(report.sent)

            yield Slow()

    send_invitations(
        session, settings=smtp_settings, cycle_id=cycle_id, clock=clock, mailer_factory=slow_relay
    )
    assert clock.now - OPENS > LEASE
    # The first tick shares the work (what the slow run had not claimed yet); no later one
    # takes a row the slow run still holds.
    assert len(smtp_server.mailbox.recipients()) == 300
    assert tick_sent[0] == 200 and sum(tick_sent[1:]) == 0
    assert Counter(smtp_server.mailbox.recipients()) == Counter(org.all_emails())
    assert {r.delivery_state for r in invitations(session, cycle_id)} == {"sent"}


def test_permanent_refusal_is_recorded_and_temporary_one_retried_with_backoff(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 4})
    gone, busy = org.emails["Alpha"][0], org.emails["Alpha"][2]
    smtp_server.mailbox.refuse[gone] = (550, "no such mailbox")
    smtp_server.mailbox.refuse[busy] = (451, "try again later")
    report = send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    assert (report.sent, report.retrying, report.failed) == (2, 1, 1)
    by_id = {r.id: r for r in invitations(session, cycle_id)}
    states = sorted((r.delivery_state, r.last_error or "") for r in by_id.values())
    assert states[0][0] == "failed" and "550" in states[0][1]
    retry = next(r for r in by_id.values() if r.delivery_state == "retry")
    assert "451" in (retry.last_error or "")
    assert retry.sent_at is not None and retry.sent_at > OPENS  # not before its backoff
    del smtp_server.mailbox.refuse[busy]
    too_soon = send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    assert too_soon.sent == 0
    report = send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=retry.sent_at)
    assert report.sent == 1
    assert sorted(smtp_server.mailbox.recipients()) == sorted(
        e for e in org.all_emails() if e != gone
    )


def test_unreachable_server_loses_nothing(
    session: Session, database_url: str, redis_server: EmbeddedRedis
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_PORT=str(port),
        PULSE_SMTP_TLS="false",
    )
    _, cycle_id = open_cycle(session, {"Alpha": 3})
    with pytest.raises(TemporaryMailError):
        send_invitations(session, settings=settings, cycle_id=cycle_id, now=OPENS)
    assert {r.delivery_state for r in invitations(session, cycle_id)} == {"pending"}


def test_reminders_reach_non_responders_only_at_most_twice_never_after_close(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 4})
    send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    answered = org.emails["Alpha"][0]
    rows = invitations(session, cycle_id)
    rows[0].answered = True
    session.commit()
    smtp_server.mailbox.clear()

    def remind_at(hours: float) -> list[str]:
        now = OPENS + timedelta(hours=hours)
        report = tick(session, now=now)
        session.commit()
        for cid in report.reminder_cycle_ids:
            send_reminders(session, settings=smtp_settings, cycle_id=cid, now=now)
        got = smtp_server.mailbox.recipients()
        smtp_server.mailbox.clear()
        return sorted(got)

    assert remind_at(47) == []
    first = remind_at(48)
    assert first == sorted(e for e in org.all_emails() if e != answered)
    assert remind_at(49) == []  # once per reminder
    assert remind_at(96) == first  # the second
    assert remind_at(100) == []
    assert remind_at(5 * 24 + 1) == []  # closed
    assert all(r.reminders_sent == 2 for r in invitations(session, cycle_id)[1:])


def test_missed_reminder_ticks_send_one_reminder_not_two(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 2})
    send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    smtp_server.mailbox.clear()
    now = OPENS + timedelta(hours=100)
    send_reminders(session, settings=smtp_settings, cycle_id=cycle_id, now=now)
    assert sorted(smtp_server.mailbox.recipients()) == org.all_emails()
    send_reminders(session, settings=smtp_settings, cycle_id=cycle_id, now=now)
    assert len(smtp_server.mailbox.messages) == 2


def test_an_invitation_sent_after_a_reminder_was_due_is_not_reminded_at_once(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    # The workers were down: the cycle opened at 09:00 on Monday, its invitations go out only
    # 50 hours later, after the first reminder (48 h) was due. The invitation stands in for
    # that reminder; the second one (96 h) still reaches whoever has not answered by then.
    org, cycle_id = open_cycle(session, {"Alpha": 2})
    late = OPENS + timedelta(hours=50)
    send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=late)
    assert sorted(smtp_server.mailbox.recipients()) == org.all_emails()
    smtp_server.mailbox.clear()

    def remind_at(hours: float) -> list[str]:
        now = OPENS + timedelta(hours=hours)
        for cid in tick(session, now=now).reminder_cycle_ids:
            send_reminders(session, settings=smtp_settings, cycle_id=cid, now=now)
        session.commit()
        got = smtp_server.mailbox.recipients()
        smtp_server.mailbox.clear()
        return sorted(got)

    assert remind_at(50) == []
    assert remind_at(51) == []
    assert remind_at(96) == org.all_emails()
    assert remind_at(97) == []
    assert all(r.reminders_sent == 2 for r in invitations(session, cycle_id))


def test_a_reminder_carries_a_fresh_link_and_the_first_one_keeps_working(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    org, cycle_id = open_cycle(session, {"Alpha": 1})
    send_invitations(session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS)
    address = org.emails["Alpha"][0]
    first = token_for(smtp_server.mailbox.messages, address)
    send_reminders(
        session, settings=smtp_settings, cycle_id=cycle_id, now=OPENS + timedelta(hours=48)
    )
    second = token_for(smtp_server.mailbox.messages, address)
    assert first != second
    (row,) = invitations(session, cycle_id)
    links = session.scalars(
        select(InvitationLink.token_hash).where(InvitationLink.invitation_id == row.id)
    )
    assert set(links) == {token_hash(first), token_hash(second)}
    # The first email's buttons still open the survey, as do the reminder's.
    later = OPENS + timedelta(hours=49)
    for token in (first, second):
        survey = open_survey(session, token=token, secret=smtp_settings.secret_key, now=later)
        assert survey.items
    assert "Reminder" in smtp_server.mailbox.messages[-1]["Subject"]
