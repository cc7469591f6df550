"""Celery tasks: thin wrappers that open a session and call pulse services."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import current_app as current_celery
from celery import shared_task
from flask import current_app

from pulse.db import utcnow
from pulse.organisation.service import configured_defaults
from pulse.surveys.scheduler import tick as run_tick
from webapp.extensions import db

log = logging.getLogger(__name__)

FINALISE_TASK = "worker.aggregation.finalise_cycle"
DELIVER_WEBHOOK_TASK = "worker.webhooks.deliver"
RESULTS_READY_TASK = "worker.webhooks.results_ready"


@shared_task(name="worker.tasks.tick", ignore_result=True)
def tick(now: str | None = None) -> dict[str, Any]:
    """One scheduler tick: open due cycles, send reminders, close finished cycles.

    The tick commits first and fans out afterwards, so a sending task never looks for a cycle
    or invitations that are not committed yet.
    """
    at = datetime.fromisoformat(now) if now else utcnow()
    defaults = configured_defaults(current_app.config["PULSE"])
    report = run_tick(db.session, now=at, defaults=defaults)
    db.session.commit()
    for cycle_id in report.sending_cycle_ids:
        current_celery.send_task("worker.delivery.send_invitations", args=[cycle_id])
    for cycle_id in report.reminder_cycle_ids:
        current_celery.send_task("worker.delivery.send_reminders", args=[cycle_id])
    for delivery_id in report.webhook_delivery_ids:
        current_celery.send_task(DELIVER_WEBHOOK_TASK, args=[delivery_id])
    for cycle_id in report.closed_cycle_ids:
        # Once the final figures are written, results.ready is announced.
        ready = current_celery.signature(RESULTS_READY_TASK, args=[cycle_id], immutable=True)
        current_celery.send_task(FINALISE_TASK, args=[cycle_id], link=ready)
    log.info("tick at %s: %s", at.isoformat(), report)
    return report.as_dict()
