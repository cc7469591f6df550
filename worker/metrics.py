"""Celery task metrics for /metrics: tasks by name and outcome, and how long they took.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set) each worker writes its pool processes'
samples to a subdirectory of its own, `celery-<node name>`, which it empties when it starts:
the web processes' files sit in the directory itself, so neither side deletes the other's,
and workers in other containers sharing the directory (each with its own process ids) never
write to the same file. A web process's scrape merges them all.

The start of each aggregation run that drained dirty marks is also written to Redis, so that
the aggregation lag (webapp/metrics_collectors.py) restarts for a team marked again since.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_shutdown
from flask import Flask
from prometheus_client import Counter, Histogram

from webapp.metrics_files import (
    DRAINED_AT_KEY,
    MULTIPROC_ENV,
    empty_samples,
    ensure_multiproc_dir,
    multiproc_dir,
    process_ended,
    refresh_process_gauges,
)

log = logging.getLogger(__name__)

TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# The runs that drain every dirty mark they find.
DRAINING = frozenset({"worker.aggregation.aggregate_dirty", "worker.aggregation.sweep"})
# KEYS[1] = the drained-at key, ARGV[1] = a start time: keep the latest of the two.
_KEEP_LATEST = """
local current = redis.call('get', KEYS[1])
if not current or tonumber(current) < tonumber(ARGV[1]) then
    redis.call('set', KEYS[1], ARGV[1])
end
return 0
"""

TASKS = Counter(
    "pulse_celery_tasks",
    "Celery tasks run, by task name and outcome (success, failure, retry, …).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "pulse_celery_task_duration_seconds",
    "How long Celery tasks ran, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)

_started: dict[str, tuple[float, float]] = {}
_redis_url: list[str] = []


def worker_samples_dir(base: Path, node_name: str) -> Path:
    """This worker's subdirectory of the shared directory."""
    return base / ("celery-" + re.sub(r"[^A-Za-z0-9_.-]", "_", node_name))


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    # Before the pool forks: its processes inherit the subdirectory.
    base = multiproc_dir()
    if base is None:
        return
    directory = worker_samples_dir(base, str(getattr(sender, "hostname", None) or os.getpid()))
    empty_samples(directory)
    os.environ[MULTIPROC_ENV] = str(directory)


def _on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    directory = multiproc_dir()
    if directory is not None:
        process_ended(pid or os.getpid(), directory)


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = (time.perf_counter(), time.time())


def record_drain(redis_url: str, started_at: float) -> None:
    """Note that a run starting at `started_at` drained every dirty mark it found."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)
    client.eval(_KEEP_LATEST, 1, DRAINED_AT_KEY, repr(started_at))


def _on_postrun(
    task_id: str | None = None,
    task: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    name = str(getattr(task, "name", None) or "unknown")
    outcome = (state or "unknown").lower()
    TASKS.labels(task=name, outcome=outcome).inc()
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        TASK_SECONDS.labels(task=name).observe(time.perf_counter() - started[0])
        # aggregate_dirty answers 0 both when nothing was dirty and when another run held the
        # lock; only a run that drained something is a drain for certain.
        if name in DRAINING and outcome == "success" and retval and _redis_url:
            try:
                record_drain(_redis_url[-1], started[1])
            except redis.RedisError as exc:
                log.warning("metrics: could not note the aggregation run (%s)", exc)
    refresh_process_gauges()


def install_task_metrics(app: Flask) -> None:
    """Count every task this process runs (signals are connected once per process)."""
    ensure_multiproc_dir()
    _redis_url.append(app.config["PULSE"].redis_url)
    del _redis_url[:-1]
    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="pulse.metrics.prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="pulse.metrics.postrun")
    worker_init.connect(_on_worker_init, weak=False, dispatch_uid="pulse.metrics.worker_init")
    worker_process_shutdown.connect(
        _on_process_shutdown, weak=False, dispatch_uid="pulse.metrics.process_shutdown"
    )
