"""Aggregation tasks on a real Celery worker with the embedded Redis broker (not eager)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.answers.models import Answer
from pulse.organisation.service import update_settings
from pulse.reporting.dirty import mark_dirty
from pulse.reporting.models import DirtyTeamCycle, SuppressionStamp, ThemeAggregate
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.support.answers import respond
from worker.aggregation import AGAIN_KEY, LOCK_KEY, RUNS_KEY
from worker.embedded_redis import EmbeddedRedis
from worker.schedule import BEAT_SCHEDULE


@pytest.fixture
def broker(redis_server: EmbeddedRedis) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.url)
    client.delete(LOCK_KEY, AGAIN_KEY, RUNS_KEY)
    return client


@pytest.fixture
def celery_worker(app: Flask, broker: redis.Redis) -> Iterator[Celery]:
    celery: Celery = app.extensions["celery"]
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield celery


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _survey(session: Session, teams: int, per_team: int) -> Cycle:
    org = Team(name="Org", kind="organisation")
    session.add(org)
    session.flush()
    opens = datetime(2026, 3, 2, 9, tzinfo=UTC)
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="t",
        sequence=0,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    for index in range(teams):
        team = Team(name=f"Team {index}", parent_id=org.id)
        session.add(team)
        session.flush()
        for _ in range(per_team):
            respond(
                session,
                cycle_id=cycle.id,
                team_id=team.id,
                answers=[Answer(item_id=ci.item_id, value=3) for ci in cycle.items],
                submitted_on=date(2026, 3, 3),
            )
            mark_dirty(session, team_id=team.id, cycle_id=cycle.id)
    session.commit()
    return cycle


def _dirty(session: Session) -> int:
    session.expire_all()
    session.rollback()
    return session.scalar(select(func.count()).select_from(DirtyTeamCycle)) or 0


def _aggregates(session: Session, cycle_id: int) -> int:
    session.rollback()
    query = select(func.count()).where(ThemeAggregate.cycle_id == cycle_id)
    return session.scalar(query) or 0


def test_sweep_is_scheduled_every_five_minutes() -> None:
    entry = BEAT_SCHEDULE["aggregation-sweep"]
    assert entry["task"] == "worker.aggregation.sweep"
    assert str(entry["schedule"]).startswith("<crontab: */5 * * * *")


def test_a_burst_of_submits_causes_one_aggregation(
    session: Session, celery_worker: Celery, broker: redis.Redis
) -> None:
    cycle = _survey(session, teams=3, per_team=5)
    for _ in range(5):
        celery_worker.send_task("worker.aggregation.aggregate_dirty", countdown=1)
    assert wait_for(lambda: _dirty(session) == 0 and _aggregates(session, cycle.id) > 0)
    # The other four messages are consumed too (acked late: gone from "unacked" once done)
    # and find nothing left to do.
    assert wait_for(lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0)
    assert int(broker.get(RUNS_KEY) or 0) == 1
    # Org and its three teams, three themes each.
    assert _aggregates(session, cycle.id) == 12


def test_a_run_already_in_progress_defers_to_it(
    session: Session, celery_worker: Celery, broker: redis.Redis
) -> None:
    cycle = _survey(session, teams=1, per_team=5)
    broker.set(LOCK_KEY, "1", ex=60)
    celery_worker.send_task("worker.aggregation.aggregate_dirty")
    assert wait_for(lambda: broker.exists(AGAIN_KEY) == 1)
    assert _dirty(session) == 1 and _aggregates(session, cycle.id) == 0
    broker.delete(LOCK_KEY)
    celery_worker.send_task("worker.aggregation.aggregate_dirty")
    assert wait_for(lambda: _dirty(session) == 0 and _aggregates(session, cycle.id) == 6)


def test_finalise_and_sweep_on_the_worker(session: Session, celery_worker: Celery) -> None:
    cycle = _survey(session, teams=2, per_team=5)
    cycle.status = "closed"
    session.commit()
    celery_worker.send_task("worker.aggregation.finalise_cycle", args=[cycle.id])

    def finalised() -> bool:
        session.expire_all()
        session.rollback()
        return session.get(Cycle, cycle.id).finalised_at is not None  # type: ignore[union-attr]

    assert wait_for(finalised)
    assert _aggregates(session, cycle.id) == 9
    # A cycle closed but never finalised, and marks left behind: the sweep catches both.
    other = create_cycle(
        session,
        schedule_id=None,
        period_key="u",
        sequence=1,
        program="rotating",
        opens_at=cycle.opens_at + timedelta(weeks=2),
        closes_at=cycle.closes_at + timedelta(weeks=2),
    )
    other.status = "closed"
    team = session.scalars(select(Team).where(Team.name == "Team 0")).one()
    mark_dirty(session, team_id=team.id, cycle_id=cycle.id)
    session.commit()
    celery_worker.send_task("worker.aggregation.sweep")

    def swept() -> bool:
        session.expire_all()
        session.rollback()
        done = session.get(Cycle, other.id)
        return _dirty(session) == 0 and done is not None and done.finalised_at is not None

    assert wait_for(swept)


def test_the_sweep_stamps_cycles_again_after_the_threshold_changes(
    session: Session, celery_worker: Celery
) -> None:
    cycle = _survey(session, teams=2, per_team=5)
    celery_worker.send_task("worker.aggregation.aggregate_dirty")
    assert wait_for(lambda: _aggregates(session, cycle.id) == 9)

    def stamped_at() -> int | None:
        session.expire_all()
        session.rollback()
        stamp = session.get(SuppressionStamp, cycle.id)
        return None if stamp is None else stamp.threshold

    assert wait_for(lambda: stamped_at() == 5)
    # Five each: shown at k = 5; raised to 6 (which applies at once, to this cycle too) the
    # sweep stamps what the reports then show.
    update_settings(session, threshold=6, threshold_comments=7)
    session.commit()
    celery_worker.send_task("worker.aggregation.sweep")
    assert wait_for(lambda: stamped_at() == 6)
    hidden = dict(
        session.execute(
            select(ThemeAggregate.n, ThemeAggregate.suppressed).where(
                ThemeAggregate.cycle_id == cycle.id
            )
        ).all()
    )
    # The teams' five are hidden now; the organisation's ten stay shown.
    assert hidden == {5: True, 10: False}


def test_a_run_whose_lock_expired_leaves_the_next_runs_lock_alone(
    app: Flask,
    session: Session,
    broker: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run outliving LOCK_SECONDS must not release the lock a later run took meanwhile."""
    import worker.aggregation as aggregation

    _survey(session, teams=1, per_team=5)
    real_drain = aggregation._drain

    def slow_drain() -> int:
        # What a run longer than the expiry looks like from Redis: our lock lapses and the
        # next run takes its own.
        broker.delete(LOCK_KEY)
        assert broker.set(LOCK_KEY, "the-next-run", nx=True, ex=60)
        return real_drain()

    monkeypatch.setattr(aggregation, "_drain", slow_drain)
    with app.app_context():
        assert aggregation.aggregate_dirty() == 1
    assert broker.get(LOCK_KEY) == b"the-next-run"
    assert broker.ttl(LOCK_KEY) > 0
