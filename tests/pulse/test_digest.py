"""Results-ready digests sent to a real SMTP server: what each leader gets, once."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.digest import LEASE, send_results_digests
from pulse.delivery.digest_content import score_text, took_part_text
from pulse.delivery.digest_models import ResultsDigest
from pulse.delivery.digest_prefs import set_wants_digest
from pulse.delivery.mail import Mailer, MailMessage, TemporaryMailError, open_mailer
from pulse.instrument import ITEMS_BY_CODE, THEME_LABELS
from pulse.people.models import Person
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.queries import participation_rows, theme_rows
from pulse.surveys.models import Cycle, Schedule
from pulse.teams.models import Team
from pulse.teams.service import visible_team_ids
from tests.conftest import make_settings
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree
from tests.support.answers import invite
from tests.support.digest_mail import FIGURE, make_leader, parts, sections, unsubscribe_link
from tests.support.smtp import SMTPServer
from worker.embedded_redis import EmbeddedRedis

K = 5


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
        PULSE_BASE_URL="https://pulse.example.org",
    )


def _answers(session: Session, cycle: Cycle, team: Team, count: int, level: int) -> None:
    """`count` people whose theme scores sit at `level` or `level + 1`."""
    rng = random.Random(f"{cycle.id}-{team.id}-{count}")
    for _ in range(count):
        values = {ci.item.code: level + rng.randint(0, 1) for ci in cycle.items}
        answer(
            session,
            cycle,
            team,
            {c: (6 - v if ITEMS_BY_CODE[c].reverse else v) for c, v in values.items()},
        )


def _closed_cycles(session: Session, count: int) -> list[Cycle]:
    schedule = Schedule(name="Pulse", program="full", start_date=date(2026, 1, 5))
    session.add(schedule)
    session.flush()
    return [make_cycle(session, sequence=s, schedule=schedule.id) for s in range(count)]


def _finalise(session: Session) -> None:
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()


def _send(session: Session, settings: Settings, cycle: Cycle) -> dict[str, int]:
    report = send_results_digests(
        session, settings=settings, cycle_id=cycle.id, now=cycle.closes_at + timedelta(hours=1)
    )
    return vars(report)


def _expected(session: Session, person_id: int, cycle_id: int) -> dict[str, list[str]]:
    """What the dashboard's queries show the leader, written as the digest writes it."""
    person = session.get_one(Person, person_id)
    scope = visible_team_ids(session, person=person)
    rates = {
        r.team: took_part_text(r)
        for r in participation_rows(session, team_ids=scope, threshold=K, cycle_ids=[cycle_id])
    }
    shown: dict[str, list[str]] = {}
    for row in theme_rows(session, team_ids=scope, threshold=K, cycle_ids=[cycle_id]):
        lines = shown.setdefault(row.team, [f"Took part: {rates[row.team]}"])
        score = score_text(row)
        label = THEME_LABELS[row.theme]
        if score is None:
            lines.append(f"{label}: {row.reason}")
        else:
            flag = {"up": ", significant rise", "down": ", significant drop"}.get(row.change or "")
            lines.append(f"{label}: {score}{flag or ''}")
    for lines in shown.values():
        # Three scores hidden for one reason are said once.
        reasons = {line.split(": ", 1)[1] for line in lines[1:]}
        if len(reasons) == 1 and not FIGURE.search(lines[1]):
            lines[1:] = [f"Scores: {reasons.pop()}"]
    return shown


@pytest.fixture
def story(session: Session) -> dict[str, object]:
    """Seven fortnightly pulses: Drop falls from about 4 to about 2 in the last two, Flat holds."""
    teams = make_tree(session, {"Drop": ("Product", 0), "Flat": ("Product", 0)})
    cycles = _closed_cycles(session, 7)
    for index, cycle in enumerate(cycles):
        _answers(session, cycle, teams["Drop"], 8, 4 if index < 5 else 2)
        _answers(session, cycle, teams["Flat"], 7, 3)
    _finalise(session)
    # Quiet is created after every cycle opened: no cycle surveyed it.
    quiet = Team(name="Quiet", parent_id=teams["Org"].id)
    session.add(quiet)
    session.flush()
    leaders = {
        "product": make_leader(session, "product@example.org", teams["Product"].id),
        "drop": make_leader(session, "drop@example.org", teams["Drop"].id),
        "flat": make_leader(session, "flat@example.org", teams["Flat"].id),
        "quiet": make_leader(session, "quiet@example.org", quiet.id),
    }
    set_wants_digest(session, person_id=leaders["flat"].id, wanted=False)
    session.commit()
    return {"teams": teams, "cycle": cycles[-1], "leaders": leaders}


def test_a_closed_cycle_sends_each_leader_one_digest_once(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer, story: dict
) -> None:
    cycle = story["cycle"]
    leaders = story["leaders"]
    report = _send(session, smtp_settings, cycle)
    assert report["sent"] == 2 and report["failed"] == 0
    mailbox = smtp_server.mailbox
    # The opted-out leader and the leader whose team was never surveyed get nothing.
    assert sorted(mailbox.recipients()) == ["drop@example.org", "product@example.org"]
    # One SMTP connection for the batch.
    assert len(set(mailbox.peers)) == 1
    for message in mailbox.messages:
        person = next(p for p in leaders.values() if p.email == message["To"])
        text, html = parts(message)
        got = sections(text)
        assert got == _expected(session, person.id, cycle.id)
        assert f"cycle={cycle.id}" in text and "https://pulse.example.org/dashboard/" in text
        assert "https://pulse.example.org/dashboard/" in html
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url, _ = unsubscribe_link(message)
        assert url in text and url.replace("&", "&amp;") in html
    # The drop is flagged, in both parts, for the leader of the team and of its department.
    for message in mailbox.messages:
        text, html = parts(message)
        drop = sections(text)["Drop"]
        assert sum("significant drop" in line for line in drop) >= 1
        assert "significant drop" in html
        assert not any("significant" in line for line in sections(text).get("Flat", []))
    # Running it again sends nothing more; every row says what happened.
    assert _send(session, smtp_settings, cycle)["sent"] == 0
    assert len(mailbox.messages) == 2
    states = session.execute(select(ResultsDigest.person_id, ResultsDigest.state)).all()
    assert sorted(states) == sorted([(leaders["product"].id, "sent"), (leaders["drop"].id, "sent")])


@pytest.mark.parametrize(("respondents", "shown"), [(K - 1, False), (K, True)])
def test_a_team_at_k_minus_one_shows_nothing_and_at_k_its_figures(
    session: Session,
    smtp_settings: Settings,
    smtp_server: SMTPServer,
    respondents: int,
    shown: bool,
) -> None:
    teams = make_tree(session, {"Crew": ("Ops", 0)})
    (cycle,) = _closed_cycles(session, 1)
    _answers(session, cycle, teams["Crew"], respondents, 3)
    # Eight invited: a team that could have reached k, so its state is "fewer than k".
    invite(session, cycle_id=cycle.id, team_id=teams["Crew"].id, count=8 - respondents)
    _finalise(session)
    leader = make_leader(session, "crew@example.org", teams["Crew"].id)
    session.commit()
    assert _send(session, smtp_settings, cycle)["sent"] == 1
    (message,) = smtp_server.mailbox.messages
    text, html = parts(message)
    crew = sections(text)["Crew"]
    assert crew == _expected(session, leader.id, cycle.id)["Crew"]
    if shown:
        assert crew[0] == "Took part: 63%"  # 5 of 8, rounded half up as the dashboard does
        assert all(FIGURE.search(line) for line in crew)
    else:
        assert crew[0].startswith("Took part: ") and not FIGURE.search(" ".join(crew))
        assert crew[1:] == [f"Scores: fewer than {K} responses"]
        words = re.sub(r"<[^>]+>", " ", html)
        assert "fewer than 5 responses" in words
        assert not FIGURE.search(words.split("See the results")[0])


def test_a_team_hidden_to_protect_a_smaller_one_shows_nothing_at_k(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    teams = make_tree(session, {"Four": ("D", 0), "Five": ("D", 0), "Six": ("D", 0)})
    (cycle,) = _closed_cycles(session, 1)
    for name, size in (("Four", 4), ("Five", 5), ("Six", 6)):
        _answers(session, cycle, teams[name], size, 3)
    _finalise(session)
    make_leader(session, "five@example.org", teams["Five"].id)
    session.commit()
    _send(session, smtp_settings, cycle)
    (message,) = smtp_server.mailbox.messages
    text, _ = parts(message)
    five = sections(text)["Five"]
    assert not FIGURE.search(" ".join(five))
    assert "hidden so that a smaller group stays anonymous" in " ".join(five)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_two_runs_send_one_digest(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    teams = make_tree(session, {"Crew": ("Ops", 0)})
    (cycle,) = _closed_cycles(session, 1)
    _answers(session, cycle, teams["Crew"], 6, 3)
    _finalise(session)
    make_leader(session, "crew@example.org", teams["Crew"].id)
    session.commit()
    assert _send(session, smtp_settings, cycle)["sent"] == 1
    assert _send(session, smtp_settings, cycle)["sent"] == 0
    assert smtp_server.mailbox.recipients() == ["crew@example.org"]


def test_an_old_cycle_finalised_again_emails_nobody(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer, story: dict
) -> None:
    cycle = story["cycle"]
    report = send_results_digests(
        session, settings=smtp_settings, cycle_id=cycle.id, now=cycle.closes_at + timedelta(days=30)
    )
    assert vars(report)["sent"] == 0 and smtp_server.mailbox.messages == []


class Killed(BaseException):
    """Stands in for SIGKILL: no except-Exception clean-up runs."""


def _failing_after(count: int, error: BaseException):  # type: ignore[no-untyped-def]
    """A mailer factory whose mailer sends `count` messages for real, then raises `error`."""

    @contextmanager
    def factory(settings: Settings, session: Session) -> Iterator[Mailer]:
        with open_mailer(settings, session) as real:
            sent = 0

            class Flaky:
                def send(self, message: MailMessage) -> None:
                    nonlocal sent
                    if sent >= count:
                        raise error
                    real.send(message)
                    sent += 1

            yield Flaky()

    return factory


def _three_leaders(session: Session) -> Cycle:
    teams = make_tree(session, {"Crew": ("Ops", 0)})
    (cycle,) = _closed_cycles(session, 1)
    _answers(session, cycle, teams["Crew"], 6, 3)
    _finalise(session)
    for name in ("one", "two", "three"):
        make_leader(session, f"{name}@example.org", teams["Crew"].id)
    session.commit()
    return cycle


def _digest_states(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(ResultsDigest.state).order_by(ResultsDigest.id)))


def test_a_deferring_server_loses_nothing_and_repeats_nothing(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    cycle = _three_leaders(session)
    later = cycle.closes_at + timedelta(hours=1)
    with pytest.raises(TemporaryMailError):
        send_results_digests(
            session,
            settings=smtp_settings,
            cycle_id=cycle.id,
            now=later,
            mailer_factory=_failing_after(1, TemporaryMailError("451 try later")),
        )
    # The first went out; the next two were deferred twice in a row, so the run stopped.
    assert _digest_states(session) == ["sent", "retry", "retry"]
    session.execute(update(ResultsDigest).values(claimed_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert _send(session, smtp_settings, cycle)["sent"] == 2
    assert sorted(smtp_server.mailbox.recipients()) == [
        "one@example.org",
        "three@example.org",
        "two@example.org",
    ]


def test_a_killed_run_is_taken_over_after_the_lease(
    session: Session, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    cycle = _three_leaders(session)
    later = cycle.closes_at + timedelta(hours=1)
    with pytest.raises(Killed):
        send_results_digests(
            session,
            settings=smtp_settings,
            cycle_id=cycle.id,
            now=later,
            mailer_factory=_failing_after(1, Killed()),
        )
    session.rollback()
    assert _digest_states(session) == ["sent", "sending", "sending"]
    # Inside the lease another run leaves the dead run's rows alone.
    assert _send(session, smtp_settings, cycle)["sent"] == 0
    session.execute(
        update(ResultsDigest)
        .where(ResultsDigest.state == "sending")
        .values(claimed_at=utcnow() - LEASE - timedelta(seconds=1))
    )
    session.commit()
    assert _send(session, smtp_settings, cycle)["sent"] == 2
    assert sorted(smtp_server.mailbox.recipients()) == [
        "one@example.org",
        "three@example.org",
        "two@example.org",
    ]
