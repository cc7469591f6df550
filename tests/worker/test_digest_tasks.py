"""The results digest on a real Celery worker: queued by finalisation, caught up by the sweep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.digest_models import ResultsDigest
from pulse.people.models import Person
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from tests.conftest import make_settings
from tests.pulse.test_digest import _answers
from tests.pulse.test_reporting_aggregation import make_tree
from tests.support.answers import close
from tests.support.digest_mail import make_leader
from tests.support.smtp import SMTPServer
from tests.worker.test_aggregation_tasks import wait_for
from worker.aggregation import sweep
from worker.digest import send_results_digests
from worker.embedded_redis import EmbeddedRedis


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
def celery_worker(app: Flask) -> Iterator[Celery]:
    celery: Celery = app.extensions["celery"]
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield celery


def _yesterdays_cycle(session: Session) -> Cycle:
    """A cycle that closed yesterday, answered by six people of Crew, not finalised yet."""
    teams = make_tree(session, {"Crew": ("Ops", 0)})
    opens = utcnow() - timedelta(days=6)
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="w",
        sequence=0,
        program="full",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    _answers(session, cycle, teams["Crew"], 6, 3)
    close(session, cycle)
    make_leader(session, "crew.lead@example.org", teams["Crew"].id)
    session.commit()
    return cycle


def _states(session: Session) -> list[tuple[str, str]]:
    session.expire_all()
    session.rollback()
    rows = session.execute(
        select(ResultsDigest.state, ResultsDigest.person_id).order_by(ResultsDigest.person_id)
    )
    return [(state, str(person_id)) for state, person_id in rows]


def test_finalising_a_cycle_emails_its_leaders_once(
    session: Session, celery_worker: Celery, smtp_server: SMTPServer
) -> None:
    cycle = _yesterdays_cycle(session)
    celery_worker.send_task("worker.aggregation.finalise_cycle", args=[cycle.id])
    mailbox = smtp_server.mailbox
    assert wait_for(lambda: [s for s, _ in _states(session)] == ["sent"])
    assert mailbox.recipients() == ["crew.lead@example.org"]
    assert "results are ready" in str(mailbox.messages[0]["Subject"])
    # The task again, run here in full, and a doubled finalisation: nothing more is sent.
    assert send_results_digests.apply(args=[cycle.id]).get()["sent"] == 0
    celery_worker.send_task("worker.aggregation.finalise_cycle", args=[cycle.id])
    assert send_results_digests.apply(args=[cycle.id]).get()["sent"] == 0
    assert mailbox.recipients() == ["crew.lead@example.org"]


def test_the_sweep_sends_what_a_dead_task_left(
    session: Session, celery_worker: Celery, smtp_server: SMTPServer
) -> None:
    cycle = _yesterdays_cycle(session)
    celery_worker.send_task("worker.aggregation.finalise_cycle", args=[cycle.id])
    assert wait_for(lambda: [s for s, _ in _states(session)] == ["sent"])
    # A worker killed while sending: its row stays claimed past the lease.
    crew = session.scalar(select(ResultsDigest.person_id))
    second = make_leader(session, "second.lead@example.org", *_led(session, crew))
    session.add(
        ResultsDigest(
            person_id=second.id,
            cycle_id=cycle.id,
            state="sending",
            claimed_at=utcnow() - timedelta(minutes=11),
        )
    )
    session.commit()
    assert sweep.apply().get()["digests"] == [cycle.id]
    assert wait_for(lambda: [s for s, _ in _states(session)] == ["sent", "sent"])
    assert sorted(smtp_server.mailbox.recipients()) == [
        "crew.lead@example.org",
        "second.lead@example.org",
    ]
    # Nothing is owed any more: the next sweep queues nothing.
    assert sweep.apply().get()["digests"] == []


def _led(session: Session, person_id: int | None) -> list[int]:
    person = session.get(Person, person_id)
    assert person is not None
    return person.led_team_ids
