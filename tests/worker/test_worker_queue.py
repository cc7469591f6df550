"""Tasks travel through a real Redis broker to a real Celery worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from worker.schedule import BEAT_SCHEDULE


@pytest.fixture
def celery_worker(app: Flask) -> Iterator[Celery]:
    celery: Celery = app.extensions["celery"]
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield celery


def wait_for(condition: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_beat_ticks_every_minute() -> None:
    entry = BEAT_SCHEDULE["tick"]
    assert entry["task"] == "worker.tasks.tick"
    assert str(entry["schedule"]).startswith("<crontab: * * * * *")


def test_broker_is_the_configured_redis(app: Flask) -> None:
    celery: Celery = app.extensions["celery"]
    assert celery.conf.broker_url.startswith("redis+socket://")
    assert not celery.conf.task_always_eager


def test_tick_task_runs_on_a_worker_and_closes_a_finished_cycle(
    app: Flask, session: Session, celery_worker: Celery
) -> None:
    now = utcnow()
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="manual",
        sequence=0,
        program="rotating",
        opens_at=now - timedelta(days=8),
        closes_at=now - timedelta(days=1),
    )
    session.commit()
    celery_worker.send_task("worker.tasks.tick")

    def closed() -> bool:
        session.expire_all()
        return session.get(Cycle, cycle.id).status == "closed"  # type: ignore[union-attr]

    assert wait_for(closed)
