"""prometheus-client's multiprocess mode for Team Pulse: the shared directory of sample files,
and the standard process metrics of every process.

Light on purpose (no database, no Flask): the gunicorn master and the Celery worker import it
before anything else.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import Gauge, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# When the last aggregation run that drained the dirty marks started (a Unix time), written
# by the worker (worker/metrics.py) and read by the aggregation lag (webapp/metrics_collectors.py).
DRAINED_AT_KEY = "pulse:metrics:aggregation:drained_at"


def multiproc_dir() -> Path | None:
    """The directory every process writes its samples to, or None for the plain registry."""
    value = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(value) if value else None


def ensure_multiproc_dir() -> None:
    """Create the directory if it is named: a process that counts before the server or the
    worker has prepared it (a CLI command, say) must not fail on a missing directory."""
    directory = multiproc_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)


def empty_samples(directory: Path) -> None:
    """Create `directory` if need be and delete the sample files left in it (not in its
    subdirectories, which belong to the Celery workers sharing it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink(missing_ok=True)


def process_ended(pid: int, directory: Path) -> None:
    """Drop a dead process's live gauges; its counters and histograms keep counting."""
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


class SampleFiles:
    """Every process's samples merged: the web processes' files in the directory itself and
    each Celery worker's in its own subdirectory (worker/metrics.py says why)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = glob.glob(str(self.directory / "*.db")) + glob.glob(
            str(self.directory / "*" / "*.db")
        )
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]


# Process metrics in multiprocess mode -------------------------------------------------------

# Where each family of the standard process collector goes: a gauge per process (label pid),
# removed when the process ends.
_PROCESS_GAUGES = {
    "process_resident_memory_bytes": "Resident memory of each process, in bytes.",
    "process_virtual_memory_bytes": "Virtual memory of each process, in bytes.",
    "process_cpu_seconds_total": "CPU time each process has used, in seconds.",
    "process_open_fds": "Open file descriptors of each process.",
    "process_start_time_seconds": "When each process started, in seconds since the epoch.",
}


class ProcessGauges:
    """The standard process metrics for every process in multiprocess mode.

    The standard collector reads /proc/self, so a scrape would show only the process that
    answered it, a different one each time. Each process instead copies its own figures into
    `pulse_process_*{pid}` gauges now and then (at most every `every` seconds, from its
    request or task hooks), and the scrape merges them.
    """

    def __init__(self, every: float = 10.0) -> None:
        self._source = ProcessCollector(registry=None)
        self._gauges = {
            name: Gauge(
                "pulse_" + name.removesuffix("_total"),
                text,
                multiprocess_mode="liveall",
                registry=None,
            )
            for name, text in _PROCESS_GAUGES.items()
        }
        self._every = every
        self._next = 0.0

    def refresh(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now < self._next:
            return
        self._next = now + self._every
        for family in self._source.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)


_process_gauges: ProcessGauges | None = None


def refresh_process_gauges() -> None:
    """Copy this process's figures into its gauges, in multiprocess mode only (the plain
    registry has the standard process collector already)."""
    global _process_gauges
    if multiproc_dir() is None:
        return
    if _process_gauges is None:
        _process_gauges = ProcessGauges()
    _process_gauges.refresh()
