"""What /metrics reads from the database at scrape time: invitations by state and the
aggregation lag.

Counts that live in the database are read when scraped, not kept in step by the code that
changes them: one grouped count on an indexed column per scrape is cheap, and a figure read
at scrape time cannot drift from the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pulse.delivery.models import Invitation
from pulse.reporting.models import DirtyTeamCycle
from webapp.metrics_files import DRAINED_AT_KEY

log = logging.getLogger(__name__)

# The delivery states an invitation goes through; each is reported, at 0 when none is in it,
# so that a series does not vanish when its last invitation moves on.
INVITATION_STATES = ("pending", "sending", "retry", "sent", "failed")
# When a scrape first saw each dirty mark that is still there.
SEEN_KEY = "pulse:metrics:aggregation:seen"


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
