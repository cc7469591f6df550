"""Webhook tasks: one attempt per run, retried with Standard Webhooks' backoff.

A delivery's webhook-id is its stored message id, so a retried task, a task redelivered
after its worker died mid-attempt (acks_late) and a sweep's requeue all send the same id.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app as current_celery
from celery import shared_task
from flask import current_app

from pulse.db import utcnow
from pulse.webhooks.events import owe_results_ready
from pulse.webhooks.service import BACKOFF_SECONDS, stranded_deliveries
from pulse.webhooks.service import deliver as deliver_once
from webapp.extensions import db

log = logging.getLogger(__name__)

DELIVER_TASK = "worker.webhooks.deliver"
# A delivery never attempted this long after it was owed lost its task.
STRANDED_AFTER = timedelta(minutes=10)


def backoff() -> tuple[int, ...]:
    """Seconds before each retry; tests shorten it with PULSE_WEBHOOK_BACKOFF."""
    return tuple(current_app.config.get("PULSE_WEBHOOK_BACKOFF", BACKOFF_SECONDS))


@shared_task(
    name=DELIVER_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
)
def deliver(self: Any, delivery_id: int) -> bool:
    """Make one attempt at a delivery; schedule the next one if it failed."""
    outcome = deliver_once(db.session, delivery_id=delivery_id, backoff=backoff())
    db.session.commit()
    if outcome.retry_in is not None:
        log.info("webhook delivery %s failed; retrying in %s s", delivery_id, outcome.retry_in)
        raise self.retry(countdown=outcome.retry_in)
    return outcome.delivered


@shared_task(name="worker.webhooks.results_ready", acks_late=True, ignore_result=True)
def results_ready(cycle_id: int) -> int:
    """Announce a closed cycle's final figures (run after its finalisation)."""
    owed = owe_results_ready(db.session, cycle_id=cycle_id, now=utcnow())
    db.session.commit()
    for delivery_id in owed:
        current_celery.send_task(DELIVER_TASK, args=[delivery_id])
    return len(owed)


@shared_task(name="worker.webhooks.sweep", ignore_result=True)
def sweep() -> int:
    """Queue again deliveries whose task was lost before its first attempt."""
    stranded = stranded_deliveries(db.session, before=utcnow() - STRANDED_AFTER)
    db.session.rollback()
    for delivery_id in stranded:
        current_celery.send_task(DELIVER_TASK, args=[delivery_id])
    return len(stranded)
