"""What /metrics reads at scrape time: invitations by state, the aggregation lag, and the
files every process writes in multiprocess mode.

Counts that live in the database are read when scraped, not kept in step by the code that
changes them: one grouped count on an indexed column per scrape is cheap, and a figure read
at scrape time cannot drift from the database.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import redis
from prometheus_client import Gauge, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pulse.delivery.models import Invitation
from pulse.reporting.models import DirtyTeamCycle

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The delivery states an invitation goes through; each is reported, at 0 when none is in it,
# so that a series does not vanish when its last invitation moves on.
INVITATION_STATES = ("pending", "sending", "retry", "sent", "failed")
# When the last aggregation run that drained the dirty marks started (a Unix time), written
# by the worker (worker/metrics.py); and when a scrape first saw each mark that is still there.
DRAINED_AT_KEY = "pulse:metrics:aggregation:drained_at"
SEEN_KEY = "pulse:metrics:aggregation:seen"


# Multiprocess mode ------------------------------------------------------------------------


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


# Read from the database at scrape time ------------------------------------------------------


class InvitationStates:
    """`pulse_invitations{state}`: how many invitations are in each delivery state now.

    Delivery states only: no team, cycle or answered count, so nothing here says how many
    people of a group answered.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            rows = session.execute(
                select(Invitation.delivery_state, func.count()).group_by(Invitation.delivery_state)
            ).all()
        counts = {str(state): int(count) for state, count in rows}
        family = GaugeMetricFamily(
            "pulse_invitations",
            "Invitations by delivery state, counted in the database at scrape time.",
            labels=["state"],
        )
        for state in sorted(set(INVITATION_STATES) | counts.keys()):
            family.add_metric([state], counts.get(state, 0))
        yield family


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def lag_seconds(
    marks: set[str], *, seen: dict[str, float], drained_at: float | None, now: float
) -> tuple[float, dict[str, float]]:
    """The age of the oldest dirty mark, and the first-seen times to keep for the next scrape.

    A dirty mark carries no time of its own, so each is dated by the first scrape that saw it,
    and no earlier than the start of the last run that drained the marks: a mark still there
    after such a run was made after it started (the run drains every mark it finds), so a
    team marked again between two scrapes does not carry its old age on. The age is exact to
    one scrape interval while marks wait, and 0 with none.
    """
    kept = {mark: seen.get(mark, now) for mark in marks}
    if not kept:
        return 0.0, kept
    floor = drained_at or 0.0
    oldest = min(max(first, floor) for first in kept.values())
    return max(now - oldest, 0.0), kept


class AggregationLag:
    """`pulse_aggregation_dirty_marks` and `pulse_aggregation_lag_seconds`.

    First-seen times live in Redis, shared by every web process whichever one is scraped;
    without Redis, this process's own memory stands in.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        redis_client: Callable[[], redis.Redis],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.redis_client = redis_client
        self.clock = clock
        self._local_seen: dict[str, float] = {}

    def _marks(self) -> set[str]:
        with self.sessions() as session:
            rows = session.execute(select(DirtyTeamCycle.team_id, DirtyTeamCycle.cycle_id)).all()
        return {f"{team}:{cycle}" for team, cycle in rows}

    def _remember(self, marks: set[str], now: float) -> float:
        try:
            client = self.redis_client()
            stored = client.hgetall(SEEN_KEY)
            raw_drained = client.get(DRAINED_AT_KEY)
            seen = {_text(key): float(value) for key, value in stored.items()}
            drained_at = float(raw_drained) if raw_drained is not None else None
            lag, kept = lag_seconds(marks, seen=seen, drained_at=drained_at, now=now)
            gone = [key for key in seen if key not in kept]
            pipe = client.pipeline()
            if gone:
                pipe.hdel(SEEN_KEY, *gone)
            for key, first in kept.items():
                if key not in seen:
                    pipe.hsetnx(SEEN_KEY, key, repr(first))
            pipe.execute()
            return lag
        except (redis.RedisError, ValueError, OSError) as exc:
            log.warning("metrics: aggregation lag read without Redis (%s)", exc)
            lag, self._local_seen = lag_seconds(
                marks, seen=self._local_seen, drained_at=None, now=now
            )
            return lag

    def collect(self) -> Iterator[Metric]:
        marks = self._marks()
        lag = self._remember(marks, self.clock())
        yield GaugeMetricFamily(
            "pulse_aggregation_dirty_marks",
            "Team × cycles whose aggregates wait to be recomputed.",
            value=len(marks),
        )
        yield GaugeMetricFamily(
            "pulse_aggregation_lag_seconds",
            "Age of the oldest dirty mark (0 with none), to one scrape interval.",
            value=lag,
        )


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
