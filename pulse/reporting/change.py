"""Change flags at finalisation: the rows a cycle's tests read, and what each flag stores.

The rule is pulse.change_flags (docs/statistics.md): a group's theme score over the last two
cycles of its schedule against the same group's shown cycles of the previous twelve that
asked the same items, with Benjamini–Hochberg control across every test of the cycle. This
module finds each cycle's place in its schedule and the item set it asked of each theme,
gathers the rows the tests read (this run's own figures where it holds them, stored
aggregates otherwise) and hands them to pulse.change_columns.flag_rows as columns.

A row is read only where it is shown: n ≥ k and not hidden, by this run's hiding when it
decided it, by the stored flag otherwise. Each tested row keeps what it was compared with
(the window's n, the baseline's n, mean and cycles, the interval of the change, and the ids
of the other cycles read), so a report can say so and can drop a flag that read a cycle
hidden since.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from pulse.change_columns import flag_rows
from pulse.change_flags import BASELINE_CYCLES, WINDOW_CYCLES
from pulse.instrument import THEMES
from pulse.reporting.compute import THEME_INDEX, THEME_LIST, FloatArray, IntArray, ThemeStats
from pulse.reporting.fast import marks, run_sql

BoolArray = npt.NDArray[np.bool_]
# How far back a test can read: the window's earlier cycle, then the baseline before it.
_REACH = WINDOW_CYCLES - 1 + BASELINE_CYCLES


@dataclass(frozen=True)
class Schedules:
    """Where each cycle of some schedules stands in its schedule, and what it asked."""

    # cycle → (schedule, position): 0 for the schedule's first cycle, in order of opening.
    position: dict[int, tuple[int, int]]
    # (cycle, theme) → the item ids the cycle asked for the theme, sorted.
    asked: dict[tuple[int, str], tuple[int, ...]]

    def reach(self, cycle_ids: Collection[int]) -> set[int]:
        """The earlier cycles a test of any of `cycle_ids` may read."""
        at = {place: cycle for cycle, place in self.position.items()}
        found: set[int] = set()
        for cycle_id in cycle_ids:
            if cycle_id not in self.position:
                continue
            schedule, position = self.position[cycle_id]
            for back in range(1, _REACH + 1):
                earlier = at.get((schedule, position - back))
                if earlier is not None:
                    found.add(earlier)
        return found


def schedule_history(session: Session, *, cycle_ids: Collection[int]) -> Schedules:
    """Every cycle of the schedules `cycle_ids` belong to, placed in order, with its items."""
    if not cycle_ids:
        return Schedules({}, {})
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
    position = {
        cycle_id: (schedule_id, place)
        for schedule_id, history in by_schedule.items()
        for place, (_, cycle_id) in enumerate(sorted(history))
    }
    return Schedules(position, {key: tuple(items) for key, items in asked.items()})


@dataclass(frozen=True)
class FlagColumns:
    """Change flags aligned with the rows of a ThemeStats; None or NaN where no test was made
    (not a cycle being flagged, hidden, below k, or nothing shown to compare with)."""

    direction: list[str | None]
    p: FloatArray
    delta: FloatArray
    delta_low: FloatArray
    delta_high: FloatArray
    window_n: list[int | None]
    window_cycles: list[int | None]
    baseline_n: list[int | None]
    baseline_mean: FloatArray
    baseline_cycles: list[int | None]
    # The ids of the other cycles each test read, comma-separated in ascending order.
    compared: list[str | None]

    @classmethod
    def none(cls, size: int) -> FlagColumns:
        """No test on any row."""
        nan = np.full(size, np.nan)
        empty: list[Any] = [None] * size
        return cls(
            list(empty),
            nan.copy(),
            nan.copy(),
            nan.copy(),
            nan.copy(),
            list(empty),
            list(empty),
            list(empty),
            nan.copy(),
            list(empty),
            list(empty),
        )


@dataclass(frozen=True)
class _Rows:
    """Figures of groups × themes × cycles: this run's, then stored ones."""

    group: IntArray
    cycle: IntArray
    theme: IntArray
    n: IntArray
    mean: FloatArray
    sd: FloatArray
    shown: BoolArray

    def __add__(self, other: _Rows) -> _Rows:
        return _Rows(
            *(
                np.concatenate((getattr(self, name), getattr(other, name)))
                for name in ("group", "cycle", "theme", "n", "mean", "sd", "shown")
            )
        )


_THEME_CASE = " ".join(f"WHEN '{theme}' THEN {i}" for theme, i in THEME_INDEX.items())


def _stored(session: Session, cycle_ids: Collection[int], k: int) -> _Rows:
    """The stored theme rows of these cycles a test may read: n ≥ k and not suppressed."""
    ids = sorted(cycle_ids)
    found = run_sql(
        session,
        f"SELECT team_id, cycle_id, CASE theme {_THEME_CASE} END, n, mean, sd "
        f"FROM theme_aggregates WHERE cycle_id IN ({marks(len(ids))}) "
        f"AND theme IN ({THEME_LIST}) AND n >= ? AND NOT suppressed",
        [*ids, k],
    )
    # NULL means and sds arrive as None, which numpy turns into NaN.
    data = np.array(found, dtype=np.float64).reshape(-1, 6)
    ints = data[:, :4].astype(np.int64)
    shown = np.ones(len(data), dtype=np.bool_)
    return _Rows(ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3], data[:, 4], data[:, 5], shown)


def _stored_hidden(session: Session, stats: ThemeStats, rows: IntArray) -> BoolArray:
    """The stored `suppressed` flag of these rows of `stats`; True where none is stored."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.bool_)
    ids = np.unique(stats.cycle[rows]).tolist()
    found = run_sql(
        session,
        f"SELECT team_id, cycle_id, CASE theme {_THEME_CASE} END FROM theme_aggregates "
        f"WHERE cycle_id IN ({marks(len(ids))}) AND theme IN ({THEME_LIST}) AND NOT suppressed",
        ids,
    )
    shown = np.array(found, dtype=np.int64).reshape(-1, 3)
    radix = int(max(stats.group.max(), shown[:, 0].max(initial=0))) + 1
    cycles = int(max(stats.cycle.max(), shown[:, 1].max(initial=0))) + 1

    def key(group: IntArray, cycle: IntArray, theme: IntArray) -> IntArray:
        return (theme * cycles + cycle) * radix + group

    visible = key(shown[:, 0], shown[:, 1], shown[:, 2])
    return ~np.isin(key(stats.group[rows], stats.cycle[rows], stats.theme[rows]), visible)


def flag_changes(
    session: Session,
    stats: ThemeStats,
    *,
    k: int,
    cycle_ids: Collection[int],
    hidden: BoolArray | None = None,
) -> FlagColumns:
    """Flags for the group × themes of `cycle_ids` in `stats`, one entry per row.

    `hidden` is this run's hiding of the rows of `stats` where it decided it (a run over
    whole cycles); otherwise the stored flags decide which rows are shown. Earlier cycles'
    figures come from `stats` when it holds them, else from stored aggregates.
    """
    size = len(stats)
    if not cycle_ids or size == 0:
        return FlagColumns.none(size)
    schedules = schedule_history(session, cycle_ids=cycle_ids)
    flagged = {c for c in cycle_ids if c in schedules.position}
    if not flagged:
        return FlagColumns.none(size)
    wanted = flagged | schedules.reach(flagged)
    mine = np.flatnonzero(np.isin(stats.cycle, sorted(wanted)))
    if hidden is not None:
        hide = np.asarray(hidden, dtype=np.bool_)[mine]
    else:
        hide = _stored_hidden(session, stats, mine)
    rows = _Rows(
        stats.group[mine],
        stats.cycle[mine],
        stats.theme[mine],
        stats.n[mine],
        stats.mean[mine],
        stats.sd[mine],
        ~hide & (stats.n[mine] >= k),
    )
    elsewhere = wanted - set(np.unique(stats.cycle).tolist())
    if elsewhere:
        rows = rows + _stored(session, elsewhere, k)
    found = _flag(rows, schedules, flagged, k)
    return _columns(found, rows, mine, size)


def _flag(rows: _Rows, schedules: Schedules, flagged: set[int], k: int) -> Any:
    """pulse.change_columns.flag_rows over the rows: series are group × theme × schedule."""
    cycles = sorted(schedules.position)
    schedule = np.zeros(int(rows.cycle.max(initial=0)) + 1, dtype=np.int64)
    position = np.zeros_like(schedule)
    for cycle_id in cycles:
        if cycle_id < len(schedule):
            schedule[cycle_id], position[cycle_id] = schedules.position[cycle_id]
    # The item set each (cycle, theme) asked, as a small integer; equal sets, equal codes.
    pair = rows.cycle * len(THEMES) + rows.theme
    pairs, inverse = np.unique(pair, return_inverse=True)
    codes: dict[tuple[int, ...], int] = {}
    code = np.array(
        [
            codes.setdefault(
                schedules.asked.get((int(p) // len(THEMES), THEMES[int(p) % len(THEMES)]), ()),
                len(codes),
            )
            for p in pairs
        ],
        dtype=np.int64,
    )[inverse.reshape(-1)]
    schedules_seen = int(schedule.max(initial=0)) + 1
    return flag_rows(
        series=(rows.group * len(THEMES) + rows.theme) * schedules_seen + schedule[rows.cycle],
        position=position[rows.cycle],
        items=code,
        n=rows.n,
        mean=rows.mean,
        sd=rows.sd,
        shown=rows.shown,
        tested=np.isin(rows.cycle, sorted(flagged)),
        family=rows.cycle,
        threshold=k,
    )


def _columns(found: Any, rows: _Rows, mine: IntArray, size: int) -> FlagColumns:
    """The flags of the first len(mine) rows, put back in the places of `stats`."""
    out = FlagColumns.none(size)
    tested = np.flatnonzero(~np.isnan(found.p[: len(mine)]))
    at = mine[tested]
    for name in ("p", "delta", "delta_low", "delta_high", "baseline_mean"):
        getattr(out, name)[at] = getattr(found, name)[tested]

    def placed(values: Any) -> list[Any]:
        column = np.full(size, None, dtype=object)
        column[at] = values
        return list(column.tolist())

    way = found.direction[tested]
    names = np.where(way > 0, "up", np.where(way < 0, "down", ""))
    compared = _compared(found, rows)
    return FlagColumns(
        direction=[name or None for name in placed(names)],
        p=out.p,
        delta=out.delta,
        delta_low=out.delta_low,
        delta_high=out.delta_high,
        window_n=placed(found.window_n[tested].tolist()),
        window_cycles=placed(found.window_cycles[tested].tolist()),
        baseline_n=placed(found.baseline_n[tested].tolist()),
        baseline_mean=out.baseline_mean,
        baseline_cycles=placed(found.baseline_cycles[tested].tolist()),
        compared=placed([compared.get(row) for row in tested.tolist()]),
    )


def _compared(found: Any, rows: _Rows) -> dict[int, str]:
    """Each test's other cycles read, as comma-separated ids in ascending order."""
    tests, cycles = found.compared_test, rows.cycle[found.compared_row]
    order = np.lexsort((cycles, tests))
    tests, cycles = tests[order], cycles[order]
    if len(tests) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, tests[1:] != tests[:-1]]).tolist()
    ends = [*starts[1:], len(tests)]
    return {
        int(tests[begin]): ",".join(map(str, cycles[begin:end].tolist()))
        for begin, end in zip(starts, ends, strict=True)
    }
