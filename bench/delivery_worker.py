"""A real Team Pulse Celery worker for the delivery scale bench, with a lease of the run's choosing.

`python -m bench.delivery_worker READY_DIR` runs `celery -A worker.celery_app worker --pool
solo`: one process, one task at a time, the same tasks and settings as production. Only the
claim lease differs: BENCH_LEASE_SECONDS (default: production's 10 minutes) sets
`pulse.delivery.sending.LEASE`, and the renewal interval follows it as in production (a
quarter), so a fault run can watch a dead run's batch expire and a slow one renew within
seconds. Once the worker consumes, it writes READY_DIR/<pid>.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery.signals import worker_ready

import pulse.delivery.sending as sending


def _short_lease() -> None:
    seconds = os.environ.get("BENCH_LEASE_SECONDS")
    if seconds:
        sending.LEASE = timedelta(seconds=float(seconds))
        sending.RENEW_EVERY = sending.LEASE / 4


def main(argv: list[str]) -> None:
    ready_dir = Path(argv[0])
    _short_lease()
    from worker.celery_app import celery

    def _ready(**_: Any) -> None:
        (ready_dir / str(os.getpid())).touch()

    worker_ready.connect(_ready, weak=False)

    celery.worker_main(
        [
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
            f"--hostname=bench{os.getpid()}@%h",
        ]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
