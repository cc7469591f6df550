"""Sharing tasks: emailing a shared team report's link to the team, in batches."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from pulse.delivery.mail import TemporaryMailError
from pulse.sharing.sending import send_share_emails
from webapp.extensions import db

SEND_SHARE_TASK = "worker.sharing.send_share"


# Temporary mail failures retry with backoff; each person's delivery row makes a retried or
# redelivered task send nothing twice. The task takes the share's id only: the link is made
# again from the secret key, so no token waits in the broker.
@shared_task(
    name=SEND_SHARE_TASK,
    acks_late=True,
    autoretry_for=(TemporaryMailError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def send_share(share_id: int) -> dict[str, int]:
    """Email the share's link to every member not emailed yet."""
    report = send_share_emails(db.session, settings=current_app.config["PULSE"], share_id=share_id)
    return vars(report)
