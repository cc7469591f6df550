"""Asking the workers to re-aggregate soon after a submit, without ever failing the submit."""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app

log = logging.getLogger(__name__)

AGGREGATE_TASK = "worker.aggregation.aggregate_dirty"
COUNTDOWN = 10
# A task queued with a 10 s countdown also covers every submit committed in the next 5 s, so
# one message per process per 5 s is enough and a burst of submits does not flood the broker.
DEBOUNCE = 5.0
# While the broker is unreachable each attempt waits out a connection timeout: try again only
# after this pause, so an outage costs one slow submit per process, not every submit.
RETRY_AFTER_FAILURE = 60.0

_lock = threading.Lock()
_last_queued = -DEBOUNCE


def queue_aggregation() -> bool:
    """Queue the dirty-aggregates task; False (logged) when the broker is unreachable.

    The dirty mark was committed with the response, so a lost message only delays the
    aggregate until the periodic sweep: a submit must never fail because Redis is down.
    """
    global _last_queued
    with _lock:
        now = time.monotonic()
        if now - _last_queued < DEBOUNCE:
            return True
        _last_queued = now
    try:
        current_app.extensions["celery"].send_task(AGGREGATE_TASK, countdown=COUNTDOWN, retry=False)
    except Exception as exc:  # any broker failure; the sweep catches up
        with _lock:
            _last_queued = time.monotonic() + RETRY_AFTER_FAILURE - DEBOUNCE
        log.warning(
            "could not queue %s (the periodic sweep will catch up): %s", AGGREGATE_TASK, exc
        )
        return False
    return True


def reset_debounce() -> None:
    """Forget the last enqueue (tests and benchmarks start from a clean slate)."""
    global _last_queued
    with _lock:
        _last_queued = -DEBOUNCE
