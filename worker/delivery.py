"""Delivery tasks: sending invitations and reminders in batches."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from pulse.delivery.mail import TemporaryMailError
from pulse.delivery.reminders import send_reminders as run_send_reminders
from pulse.delivery.sending import send_invitations as run_send_invitations
from webapp.extensions import db

log = logging.getLogger(__name__)

# Temporary failures (server unreachable, deferring) retry with exponential backoff; the
# per-invitation state makes a retried or redelivered task send nothing twice.
RETRY = {
    "acks_late": True,
    "autoretry_for": (TemporaryMailError,),
    "retry_backoff": 30,
    "retry_backoff_max": 900,
    "retry_jitter": True,
    "max_retries": 8,
    "ignore_result": True,
}


@shared_task(name="worker.delivery.send_invitations", **RETRY)
def send_invitations(cycle_id: int) -> dict[str, int]:
    """Send the cycle's pending invitations over one SMTP connection."""
    report = run_send_invitations(
        db.session, settings=current_app.config["PULSE"], cycle_id=cycle_id
    )
    return vars(report)


@shared_task(name="worker.delivery.send_reminders", **RETRY)
def send_reminders(cycle_id: int) -> dict[str, int]:
    """Remind the cycle's non-responders whose reminder is due."""
    report = run_send_reminders(db.session, settings=current_app.config["PULSE"], cycle_id=cycle_id)
    return vars(report)
