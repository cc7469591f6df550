"""Results-digest tasks: email each leader once when a cycle's final figures are written.

`send_results_digests` is queued by `worker.aggregation.finalise_cycle` once a closed cycle is
finalised; each leader × cycle row is claimed before its email goes out, so a retried,
redelivered (acks_late) or doubled task sends nothing twice. The aggregation sweep calls
`requeue_owed` to run it again for any recent cycle whose digests a lost task left unsent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from celery import current_app as current_celery
from celery import shared_task
from flask import current_app

from pulse.delivery.digest import cycles_owing_digests
from pulse.delivery.digest import send_results_digests as run_send_results_digests
from webapp.extensions import db
from worker.delivery import RETRY

log = logging.getLogger(__name__)

DIGEST_TASK = "worker.digest.send_results_digests"


@shared_task(name=DIGEST_TASK, **RETRY)
def send_results_digests(cycle_id: int) -> dict[str, int]:
    """Send the results digest of a finalised cycle to every leader owed one."""
    report = run_send_results_digests(
        db.session, settings=current_app.config["PULSE"], cycle_id=cycle_id
    )
    return vars(report)


def queue_digest(cycle_id: int) -> bool:
    """Queue the cycle's digest task; False (logged) when the broker is unreachable.

    The finalisation is committed either way, and the sweep queues the digest later: the CLI's
    in-process tick must not fail because Redis is down.
    """
    try:
        current_celery.send_task(DIGEST_TASK, args=[cycle_id], retry=False)
    except Exception as exc:  # any broker failure; the sweep catches up
        log.warning("could not queue the results digest of cycle %s: %s", cycle_id, exc)
        return False
    return True


def requeue_owed(skip: Collection[int] = ()) -> list[int]:
    """Queue the digest task again for recent cycles with digests still unsent (except
    those in `skip`, just finalised, whose task is already queued)."""
    owing = [c for c in cycles_owing_digests(db.session) if c not in skip]
    for cycle_id in owing:
        queue_digest(cycle_id)
    return owing
