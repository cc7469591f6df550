"""Celery tasks: thin wrappers that open a session and call pulse services."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import shared_task

from pulse.db import utcnow
from pulse.surveys.scheduler import tick as run_tick
from webapp.extensions import db

log = logging.getLogger(__name__)


@shared_task(name="worker.tasks.tick", ignore_result=True)
def tick(now: str | None = None) -> dict[str, Any]:
    """One scheduler tick: open due cycles, send reminders, close finished cycles."""
    at = datetime.fromisoformat(now) if now else utcnow()
    report = run_tick(db.session, now=at)
    db.session.commit()
    log.info("tick at %s: %s", at.isoformat(), report)
    return report.as_dict()
