"""Delivery tasks: sending invitations and reminders in batches.

A cycle's invitations fan out: `send_invitations` queues one `send_invitation_share` per
batch still to send (at most `MAX_SHARES`) and sends a share itself. Each share claims batches
until none are left, over an SMTP connection of its own, so as many worker processes as there
are send at once; the claims keep any two shares from sending the same invitation, and a
share with nothing left to claim ends at once.
"""

from __future__ import annotations

import logging

from celery import current_app as current_celery
from celery import shared_task
from flask import current_app

from pulse.db import utcnow
from pulse.delivery.mail import TemporaryMailError
from pulse.delivery.reminders import send_reminders as run_send_reminders
from pulse.delivery.sending import batches_to_send
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
# More shares than worker processes only queue behind the others and find nothing left.
MAX_SHARES = 32
SHARE_TASK = "worker.delivery.send_invitation_share"


@shared_task(name="worker.delivery.send_invitations", **RETRY)
def send_invitations(cycle_id: int) -> dict[str, int]:
    """Fan the cycle's sendable invitations out to one share per batch, and send one share."""
    shares = min(batches_to_send(db.session, cycle_id=cycle_id, now=utcnow()), MAX_SHARES)
    db.session.rollback()
    for _ in range(shares - 1):
        current_celery.send_task(SHARE_TASK, args=[cycle_id])
    return send_invitation_share(cycle_id)


@shared_task(name=SHARE_TASK, **RETRY)
def send_invitation_share(cycle_id: int) -> dict[str, int]:
    """Send batches of the cycle's invitations over one SMTP connection until none are left."""
    report = run_send_invitations(
        db.session, settings=current_app.config["PULSE"], cycle_id=cycle_id
    )
    return vars(report)


@shared_task(name="worker.delivery.send_reminders", **RETRY)
def send_reminders(cycle_id: int) -> dict[str, int]:
    """Remind the cycle's non-responders whose reminder is due."""
    report = run_send_reminders(db.session, settings=current_app.config["PULSE"], cycle_id=cycle_id)
    return vars(report)
