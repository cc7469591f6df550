"""Celery task metrics: tasks run by a real worker on the embedded Redis broker are counted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.reporting.dirty import mark_dirty
from pulse.surveys.cycles import create_cycle
from tests.support.delivery_org import make_org
from tests.support.prometheus import value
from webapp.metrics_files import DRAINED_AT_KEY
from worker.aggregation import AGAIN_KEY, LOCK_KEY
from worker.embedded_redis import EmbeddedRedis
from worker.metrics import worker_samples_dir

TASKS = "pulse_celery_tasks_total"
DURATIONS = "pulse_celery_task_duration_seconds_count"


@pytest.fixture
def celery_worker(app: Flask, redis_server: EmbeddedRedis) -> Iterator[Celery]:
    redis.Redis.from_url(redis_server.url).delete(LOCK_KEY, AGAIN_KEY, DRAINED_AT_KEY)
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


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_task_run_by_the_worker_is_counted_with_its_duration(
    client: FlaskClient, celery_worker: Celery
) -> None:
    task = "worker.tasks.tick"
    before = scrape(client)
    celery_worker.send_task(task)

    def counted() -> bool:
        return value(scrape(client), TASKS, task=task) > value(before, TASKS, task=task)

    assert wait_for(counted)
    after = scrape(client)
    assert (
        value(after, TASKS, task=task, outcome="success")
        - value(before, TASKS, task=task, outcome="success")
        == 1
    )
    assert value(after, DURATIONS, task=task) - value(before, DURATIONS, task=task) == 1


def test_a_failing_task_is_counted_as_a_failure(client: FlaskClient, celery_worker: Celery) -> None:
    task = "worker.tasks.tick"
    before = value(scrape(client), TASKS, task=task, outcome="failure")
    # tick takes no such arguments: the task raises on the worker.
    celery_worker.send_task(task, args=[1, 2, 3])
    assert wait_for(lambda: value(scrape(client), TASKS, task=task, outcome="failure") > before)


def test_a_drain_notes_when_it_started(
    client: FlaskClient, session: Session, celery_worker: Celery, redis_server: EmbeddedRedis
) -> None:
    org = make_org(session, {"Alpha": 2})
    now = utcnow()
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="drain",
        sequence=0,
        program="rotating",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=2),
    )
    mark_dirty(session, team_id=org.team_ids["Alpha"], cycle_id=cycle.id)
    session.commit()
    store = redis.Redis.from_url(redis_server.url)
    sent_at = time.time()
    celery_worker.send_task("worker.aggregation.aggregate_dirty")

    assert wait_for(lambda: store.get(DRAINED_AT_KEY) is not None)
    assert float(store.get(DRAINED_AT_KEY) or 0) >= sent_at
    assert wait_for(lambda: value(scrape(client), "pulse_aggregation_dirty_marks") == 0)
    assert value(scrape(client), "pulse_aggregation_lag_seconds") == 0


def test_each_worker_writes_in_a_subdirectory_of_its_own(tmp_path: Path) -> None:
    base = tmp_path
    assert worker_samples_dir(base, "celery@web-1") == base / "celery-celery_web-1"
    assert worker_samples_dir(base, "../../etc") == base / "celery-.._.._etc"
