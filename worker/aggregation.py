"""Aggregation tasks: debounced re-aggregation of dirty team × cycles, finalisation, sweep.

Submits only mark their team × cycle dirty and queue `aggregate_dirty` with a countdown. The
first message due drains every mark of the burst; later messages of the same burst find no
marks and cost one empty DELETE. Runs are also debounced through Redis: a SET NX lock with
an expiry lets one run at a time do the work, a message arriving meanwhile only raises an
"again" flag, and the running task drains once more before it lets go. So a burst causes one
aggregation, and nothing is lost because the marks live in the database, where the
five-minute sweep also finds anything a lost message left behind.

The lock holds a token of the run that took it, and only that run may extend or release it
(compare-and-delete in one Lua script): a run that outlived the expiry finds its lock gone
or taken by another run and leaves it alone, rather than releasing a lock it does not own
and letting a third run start beside the second.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import redis
from celery import shared_task
from flask import current_app
from sqlalchemy import select

from pulse.organisation.service import threshold as org_threshold
from pulse.reporting.aggregation import aggregate_dirty as run_aggregate_dirty
from pulse.reporting.aggregation import finalise_cycle as run_finalise_cycle
from pulse.reporting.stamps import restamp_stale
from pulse.surveys.models import Cycle
from webapp.extensions import db
from worker.digest import queue_digest, requeue_owed

log = logging.getLogger(__name__)

LOCK_KEY = "pulse:aggregation:lock"
AGAIN_KEY = "pulse:aggregation:again"
RUNS_KEY = "pulse:aggregation:runs"
# Longer than any run should take; a crashed worker's lock expires on its own.
LOCK_SECONDS = 300
MAX_ROUNDS = 5

# KEYS[1] = lock, ARGV[1] = the owner's token: delete only if it is still ours.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
# KEYS[1] = lock, ARGV[1] = token, ARGV[2] = seconds: extend only if it is still ours.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""


def _redis() -> redis.Redis:
    return redis.Redis.from_url(current_app.config["PULSE"].redis_url)


def _threshold() -> int:
    return org_threshold(db.session, default=current_app.config["PULSE"].threshold)


def _drain() -> int:
    try:
        processed = run_aggregate_dirty(db.session, threshold=_threshold())
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return processed


@shared_task(name="worker.aggregation.aggregate_dirty", ignore_result=True)
def aggregate_dirty() -> int:
    """Re-aggregate every dirty team × cycle, once for a whole burst of submits."""
    client = _redis()
    token = secrets.token_hex(16)
    if not client.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
        client.set(AGAIN_KEY, "1", ex=LOCK_SECONDS)
        return 0
    processed = 0
    try:
        for _ in range(MAX_ROUNDS):
            client.delete(AGAIN_KEY)
            drained = _drain()
            if drained:
                # Counts runs that aggregated something: a burst should add one.
                client.incr(RUNS_KEY)
            processed += drained
            if not client.exists(AGAIN_KEY):
                break
            if not client.eval(_EXTEND, 1, LOCK_KEY, token, LOCK_SECONDS):
                # Our lock expired and another run holds one now: it drains what is left.
                log.warning("aggregation lock lost to another run; stopping this one")
                break
    finally:
        if not client.eval(_RELEASE, 1, LOCK_KEY, token):
            log.warning("aggregation lock had expired before this run ended")
    log.info("aggregated %d dirty team × cycles", processed)
    return processed


@shared_task(name="worker.aggregation.finalise_cycle", ignore_result=True)
def finalise_cycle(cycle_id: int) -> bool:
    """Final aggregation and change flags of a closed cycle; False when there is no such cycle."""
    try:
        run_finalise_cycle(db.session, cycle_id=cycle_id, threshold=_threshold())
        db.session.commit()
    except ValueError as exc:
        db.session.rollback()
        log.warning("not finalising cycle %s: %s", cycle_id, exc)
        return False
    except Exception:
        db.session.rollback()
        raise
    # The final figures are committed: each leader gets the results digest once.
    queue_digest(cycle_id)
    return True


@shared_task(name="worker.aggregation.sweep", ignore_result=True)
def sweep() -> dict[str, Any]:
    """Catch up: aggregate anything dirty, finalise closed cycles not finalised yet, and
    stamp suppression again where the threshold or the tree changed."""
    processed = _drain()
    pending = list(
        db.session.scalars(
            select(Cycle.id)
            .where(Cycle.status == "closed", Cycle.finalised_at.is_(None))
            .order_by(Cycle.opens_at)
        )
    )
    db.session.rollback()
    finalised = [cycle_id for cycle_id in pending if finalise_cycle(cycle_id)]
    restamped = _restamp()
    # A digest task that died or was lost is run again; its claims keep it from resending.
    return {
        "aggregated": processed,
        "finalised": finalised,
        "restamped": restamped,
        "digests": requeue_owed(skip=finalised),
    }


def _restamp() -> list[int]:
    # After a new threshold or a change to the tree, reports decide suppression on every read
    # until the cycles are stamped again for what is in force now.
    try:
        cycles = restamp_stale(db.session, threshold=_threshold())
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return cycles
