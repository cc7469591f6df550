"""Change flags: which earlier cycle a cycle is compared with, and the flags themselves.

A group's theme score in a cycle is compared with the latest earlier cycle of the same
schedule that asked exactly the same items of that theme (INSTRUMENT.md: "same item set").
In the rotating program this is the previous cycle for a theme asked by its anchor alone and
the cycle three back for the theme's full module, so a full module is never compared with an
anchor-only cycle. Tests run on stored n, mean and sd (Welch from summaries), with
Benjamini–Hochberg across all group × theme tests of the cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from pulse.instrument import THEMES
from pulse.reporting.compute import (
    THEME_INDEX,
    THEME_LIST,
    FloatArray,
    IntArray,
    ThemeStats,
)
from pulse.reporting.fast import marks, run_sql
from pulse.scoring import change_flags_from_arrays


def comparison_cycles(
    session: Session, *, cycle_ids: Collection[int]
) -> dict[tuple[int, str], int]:
    """(cycle, theme) → the earlier cycle it is compared with, where there is one."""
    if not cycle_ids:
        return {}
    ids = sorted(cycle_ids)
    # Every cycle of the schedules concerned, and what each asked, in two plain queries.
    siblings = (
        "SELECT id FROM cycles WHERE schedule_id IN "
        f"(SELECT schedule_id FROM cycles WHERE id IN ({marks(len(ids))}))"
    )
    cycles = run_sql(
        session, f"SELECT id, schedule_id, opens_at FROM cycles WHERE id IN ({siblings})", ids
    )
    asked: dict[tuple[int, str], list[int]] = {}
    for cycle_id, theme, item_id in run_sql(
        session,
        "SELECT ci.cycle_id, i.theme, ci.item_id FROM cycle_items ci "
        f"JOIN items i ON i.id = ci.item_id WHERE i.theme IN ({THEME_LIST}) "
        f"AND ci.cycle_id IN ({siblings}) ORDER BY ci.cycle_id, i.theme, ci.item_id",
        ids,
    ):
        asked.setdefault((cycle_id, theme), []).append(item_id)
    # opens_at sorts alike as a datetime (PostgreSQL) or as SQLite's fixed-width text.
    by_schedule: dict[int, list[tuple[Any, int]]] = {}
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
    session: Session, pairs: Collection[tuple[int, str]], k: int
) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    # Only the (cycle, theme) pairs some comparison reads: in the rotating program that is
    # one theme of each earlier cycle, not all three.
    ids = sorted({cycle_id for cycle_id, _ in pairs})
    wanted = sorted(pairs)
    index = " ".join(f"WHEN '{theme}' THEN {i}" for theme, i in THEME_INDEX.items())
    rows = run_sql(
        session,
        f"SELECT team_id, cycle_id, CASE theme {index} END, n, mean, sd FROM theme_aggregates "
        f"WHERE cycle_id IN ({marks(len(ids))}) AND n >= ? AND theme IN ({THEME_LIST}) AND ("
        + " OR ".join(["(cycle_id = ? AND theme = ?)"] * len(wanted))
        + ")",
        [*ids, k, *(value for pair in wanted for value in pair)],
    )
    # NULL means and sds arrive as None, which numpy turns into NaN.
    data = np.array(rows, dtype=np.float64).reshape(-1, 6)
    ints = data[:, :4].astype(np.int64)
    return ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3], data[:, 4], data[:, 5]


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
    present = set(np.unique(stats.cycle).tolist())
    earlier = {(before, theme) for (_, theme), before in compared.items() if before not in present}
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
