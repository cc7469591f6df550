"""gunicorn settings shared by `pulse run`, docker-compose and the image:
`gunicorn --config python:webapp.gunicorn_conf webapp.wsgi:app`.

Command-line options given after it (bind, workers, log files) still apply. This module makes
every log gunicorn writes leave out answer-link tokens, and prepares Prometheus's multiprocess
mode when PROMETHEUS_MULTIPROC_DIR is set: the directory is created and emptied of the last
run's samples when the server starts, and a worker that exits has its live gauges removed
(its counters keep counting in the totals).
"""

from __future__ import annotations

from typing import Any

from webapp.metrics_files import (
    empty_samples,
    multiproc_dir,
    process_ended,
    refresh_process_gauges,
)

logger_class = "webapp.gunicorn_logging.TokenRedactingLogger"


def on_starting(server: Any) -> None:
    directory = multiproc_dir()
    if directory is not None:
        empty_samples(directory)


def post_worker_init(worker: Any) -> None:
    # Every worker shows in the process metrics from the start, not from its first request.
    refresh_process_gauges()


def child_exit(server: Any, worker: Any) -> None:
    directory = multiproc_dir()
    if directory is not None:
        process_ended(worker.pid, directory)
