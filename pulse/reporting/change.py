"""Change flags: which earlier cycle a cycle is compared with, and the flags themselves.

A group's theme score in a cycle is compared with the latest earlier cycle of the same
schedule that asked exactly the same items of that theme (INSTRUMENT.md: "same item set").
In the rotating program this is the previous cycle for a theme asked by its anchor alone and
the cycle three back for the theme's full module, so a full module is never compared with an
anchor-only cycle. Tests run on stored n, mean and sd (Welch from summaries), with
Benjamini–Hochberg across all group × theme tests of the cycle.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.instrument import THEMES
from pulse.reporting.compute import THEME_INDEX, FloatArray, IntArray, ThemeStats, asked_items
from pulse.reporting.models import ThemeAggregate
from pulse.scoring import change_flags_from_arrays
from pulse.surveys.models import Cycle


def comparison_cycles(
    session: Session, *, cycle_ids: Collection[int]
) -> dict[tuple[int, str], int]:
    """(cycle, theme) → the earlier cycle it is compared with, where there is one."""
    if not cycle_ids:
        return {}
    wanted = select(Cycle.schedule_id).where(Cycle.id.in_(list(cycle_ids)))
    cycles: list[tuple[int, int | None, datetime]] = list(
        session.execute(
            select(Cycle.id, Cycle.schedule_id, Cycle.opens_at).where(Cycle.schedule_id.in_(wanted))
        )
    )
    asked = asked_items(session, cycle_ids=[c for c, _, _ in cycles])
    by_schedule: dict[int, list[tuple[datetime, int]]] = {}
    for cycle_id, schedule_id, opens in cycles:
        if schedule_id is not None:
            by_schedule.setdefault(schedule_id, []).append((opens, cycle_id))
    result: dict[tuple[int, str], int] = {}
    for history in by_schedule.values():
        history.sort()
        for position, (_, cycle_id) in enumerate(history):
            if cycle_id not in cycle_ids:
                continue
            for theme in THEMES:
                items = asked.get((cycle_id, theme))
                if not items:
                    continue
                for _, earlier in reversed(history[:position]):
                    if asked.get((earlier, theme)) == items:
                        result[(cycle_id, theme)] = earlier
                        break
    return result


@dataclass(frozen=True)
class FlagColumns:
    """Change flags aligned with the rows of a ThemeStats: direction None, p and delta NaN
    where no test was made (not a cycle being flagged, below k, or nothing to compare with)."""

    direction: list[str | None]
    p: FloatArray
    delta: FloatArray


def _stored_summaries(
    session: Session, cycle_ids: Collection[int], k: int
) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    query = select(
        ThemeAggregate.team_id,
        ThemeAggregate.cycle_id,
        ThemeAggregate.theme,
        ThemeAggregate.n,
        ThemeAggregate.mean,
        ThemeAggregate.sd,
    ).where(ThemeAggregate.cycle_id.in_(sorted(cycle_ids)), ThemeAggregate.n >= k)
    rows = list(session.execute(query))
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([THEME_INDEX[r[2]] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
        np.array([math.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
        np.array([math.nan if r[5] is None else r[5] for r in rows], dtype=np.float64),
    )


def flag_changes(
    session: Session, stats: ThemeStats, *, k: int, cycle_ids: Collection[int]
) -> FlagColumns:
    """Flags for the testable group × themes of `cycle_ids` in `stats`, one entry per row.

    Earlier cycles' figures come from `stats` when it holds them, else from stored aggregates.
    The rules are those of pulse.scoring.change_flags_from_summaries, applied to whole arrays.
    """
    size = len(stats)
    direction: list[str | None] = [None] * size
    p_out = np.full(size, np.nan)
    delta_out = np.full(size, np.nan)
    if not cycle_ids or size == 0:
        return FlagColumns(direction, p_out, delta_out)
    compared = comparison_cycles(session, cycle_ids=cycle_ids)
    # Earlier cycle per row (-1: none): a lookup on (cycle, theme).
    themes_count = len(THEMES)
    wanted = np.isin(stats.cycle, sorted(cycle_ids)) & (stats.n >= k)
    pair = stats.cycle * themes_count + stats.theme
    before_cycle = np.full(size, -1, dtype=np.int64)
    for (cycle_id, theme_name), compared_with in compared.items():
        before_cycle[pair == cycle_id * themes_count + THEME_INDEX[theme_name]] = compared_with
    wanted &= before_cycle >= 0
    # Every summary a comparison may read: this run's rows, then stored rows of other cycles.
    group, cycle, theme = stats.group, stats.cycle, stats.theme
    n, mean, sd = stats.n, stats.mean, stats.sd
    earlier = set(compared.values()) - set(np.unique(stats.cycle).tolist())
    if earlier:
        sg, sc, st, sn, sm, ss = _stored_summaries(session, earlier, k)
        group, cycle, theme = (
            np.concatenate((group, sg)),
            np.concatenate((cycle, sc)),
            np.concatenate((theme, st)),
        )
        n = np.concatenate((n, sn))
        mean, sd = np.concatenate((mean, sm)), np.concatenate((sd, ss))
    radix = int(max(group.max(), before_cycle.max(), cycle.max())) + 1
    key = (group * radix + cycle) * themes_count + theme
    order = np.argsort(key, kind="stable")
    rows = np.nonzero(wanted)[0]
    lookup = (stats.group[rows] * radix + before_cycle[rows]) * themes_count + stats.theme[rows]
    at = np.searchsorted(key[order], lookup)
    at = np.minimum(at, len(order) - 1)
    found = key[order][at] == lookup
    previous = order[at]
    testable = found & (n[previous] >= k)
    rows, previous = rows[testable], previous[testable]
    if len(rows) == 0:
        return FlagColumns(direction, p_out, delta_out)
    decided = change_flags_from_arrays(
        (n[previous], mean[previous], sd[previous]),
        (stats.n[rows], stats.mean[rows], stats.sd[rows]),
        family=stats.cycle[rows],
        threshold=k,
    )
    p_out[rows] = decided.p
    delta_out[rows] = decided.delta
    names = {1: "up", -1: "down"}
    for row, way in zip(rows.tolist(), decided.direction.tolist(), strict=True):
        direction[row] = names.get(way)
    return FlagColumns(direction, p_out, delta_out)
