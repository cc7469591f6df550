"""Change flags on plain data: what a cycle is compared with, the test, and the decision.

The rule (docs/statistics.md, chosen by `python -m bench change_detection`): a group's theme
score in the last two cycles of a schedule (this one and the one before, where that one is
shown) is compared with the same group's shown cycles of the previous twelve that asked the
same items. Like is compared with like: in the rotating program a cycle that asked a theme by
its anchor alone is compared with earlier anchor-only cycles, a full module with earlier full
modules, and when the two recent cycles asked different items their two differences are
combined, each weighted by how precisely it is known.

Each difference is a pooled-variance t-test on stored n, mean and sd, under a variance model
fitted across every group tested in the cycle on the same items (`cycle_variance`): the share
of the sampling error that really moves between cycles (much the same people answer every
cycle, so their lasting views cancel out of a change), plus how much a team's mean moves when
nothing happens, never below 0.1².
Benjamini–Hochberg controls the false discovery rate across all tests of a cycle; a change
is flagged when it survives that and is at least 0.3 points. Below the threshold, or hidden,
a cycle takes no part at all: not as the cycle flagged, nor in a window or a baseline.

`change_flags` states the rule for a handful of series in plain Python;
pulse.change_columns.flag_rows applies the same rule to whole columns of stored rows, and the
tests check that both agree.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from pulse.confidentiality import validate_threshold
from pulse.stats import benjamini_hochberg

# The false discovery rate allowed across one cycle's tests (Benjamini–Hochberg).
CHANGE_ALPHA = 0.10
MIN_CHANGE = 0.3
# This cycle and the one before it: a change shows within two cycles, one noisy cycle alone
# rarely does.
WINDOW_CYCLES = 2
# How far back a baseline reaches, in cycles of the schedule before the window.
BASELINE_CYCLES = 12
# A team's mean moves by about this much between cycles even when nothing changes (people's
# weeks differ); the estimate from the organisation's own rows is used when it is larger.
MIN_BETWEEN_CYCLE_SD = 0.1
# Much the same people answer every cycle, so part of the spread between them cancels out of a
# change; the model never counts on more than half of it cancelling, and fits the share only
# from at least this many baselines of one item set.
MIN_MOVING = 0.5
MIN_FIT_BASELINES = 8
# Differences of means are computed in binary floating point: 3.5 - 3.2 is 0.29999999999999982.
# The tolerance keeps a true 0.3 change from missing the bar; it is far below any real difference.
MIN_CHANGE_TOLERANCE = 1e-9
T95 = 0.975

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class CycleFigures:
    """A group's stored figures for one theme in one cycle.

    `position` numbers the cycles of the schedule in order (0, 1, 2, ...); `items` names the
    item set the cycle asked of the theme; `shown` is False where the row is hidden (below
    the threshold, or hidden to protect another group), and then no figure of it is read.
    """

    position: int
    n: int
    mean: float
    sd: float
    items: str
    shown: bool = True


@dataclass(frozen=True)
class SeriesTest:
    """One group × theme to be flagged in its latest cycle: `current` and earlier cycles."""

    team_id: Hashable
    theme: str
    current: CycleFigures
    earlier: Sequence[CycleFigures]
    threshold: int


@dataclass(frozen=True)
class ChangeFlag:
    """Outcome of a change test; direction None reads "no detectable change".

    Every figure is None where no test was made: the cycle hidden or below the threshold, or
    no shown earlier cycle that asked the same items. `compared` lists the positions of the
    other cycles the test read (the window's earlier cycle and the baseline's).
    """

    team_id: Hashable
    theme: str
    direction: Direction | None
    p: float | None = None
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    window_n: int | None = None
    window_cycles: int | None = None
    baseline_n: int | None = None
    baseline_mean: float | None = None
    baseline_cycles: int | None = None
    compared: tuple[int, ...] = ()

    @property
    def flagged(self) -> bool:
        """Whether the change is real enough to show."""
        return self.direction is not None


@dataclass
class _Part:
    """One item set of a test's window and the baseline cycles that asked it."""

    items: str
    window: list[CycleFigures]
    baseline: list[CycleFigures]


def _pooled(cycles: Sequence[CycleFigures]) -> tuple[int, float, float, int]:
    """n and mean of the person scores behind several cycles' figures, and the squares and
    degrees of freedom of their spread within each cycle (between cycles is modelled apart)."""
    n = sum(c.n for c in cycles)
    mean = sum(c.n * c.mean for c in cycles) / n
    squares = sum((c.n - 1) * _sq(c.sd) for c in cycles if c.n > 1)
    return n, mean, squares, sum(c.n - 1 for c in cycles)


def _spread(baseline: Sequence[CycleFigures]) -> tuple[float, float] | None:
    """How much the baseline's cycle means vary around their average, and how much their
    own sampling error (sd²/n) predicts they would; None below two cycles."""
    if len(baseline) < 2:
        return None
    means = [c.mean for c in baseline]
    average = sum(means) / len(means)
    spread = sum((m - average) ** 2 for m in means) / (len(means) - 1)
    return sum(c.sd**2 / c.n for c in baseline) / len(baseline), spread


def cycle_variance(
    count: Any,
    sum_x: Any,
    sum_y: Any,
    sum_xx: Any,
    sum_xy: Any,
    min_sd: float = MIN_BETWEEN_CYCLE_SD,
    overlap: bool = True,
) -> tuple[Any, Any]:
    """The variance model of a cycle's mean around its group's level, for one item set.

    Across the baselines of a cycle's tests (x: the sampling error sd²/n their cycles
    predict, y: the spread their cycle means really show), fits y = moving·x + between.
    `moving` is the share of the sampling error that moves from cycle to cycle: below 1
    because much the same people answer every cycle, so their lasting views cancel out of a
    change (between MIN_MOVING and 1; 1 where too few baselines to fit). `between` is how
    much a team's mean moves for reasons of its own, never below min_sd². Works on numbers
    or numpy arrays of the sums, one entry per item set.
    """
    count = np.asarray(count, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread_x = np.asarray(sum_xx - sum_x * sum_x / count, dtype=np.float64)
        slope = (sum_xy - sum_x * sum_y / count) / spread_x
        fit = overlap & (count >= MIN_FIT_BASELINES) & (spread_x > 1e-12 * sum_xx)
        moving = np.where(fit, np.clip(slope, MIN_MOVING, 1.0), 1.0)
        between = np.where(count > 0, (sum_y - moving * sum_x) / count, 0.0)
    return moving, np.maximum(min_sd**2, between)


def _parts(test: SeriesTest) -> list[_Part]:
    """The window's item sets with their baselines; the current cycle's item set first."""
    current = test.current
    by_position = {c.position: c for c in test.earlier if c.shown and c.n >= test.threshold}
    window = [current]
    before = by_position.get(current.position - 1)
    # The earlier cycle joins the window only when something before it asked the current
    # cycle's items; early in a schedule it is part of the baseline instead.
    start = current.position - 1
    if (
        WINDOW_CYCLES > 1
        and before is not None
        and any(
            by_position[p].items == current.items
            for p in range(start - 1, start - 1 - BASELINE_CYCLES, -1)
            if p in by_position
        )
    ):
        window.append(before)
    first = min(c.position for c in window)
    parts: list[_Part] = []
    for cycle in window:
        part = next((p for p in parts if p.items == cycle.items), None)
        if part is None:
            part = _Part(cycle.items, [], [])
            parts.append(part)
        part.window.append(cycle)
    for position in range(first - 1, first - 1 - BASELINE_CYCLES, -1):
        earlier = by_position.get(position)
        if earlier is None:
            continue
        part = next((p for p in parts if p.items == earlier.items), None)
        if part is not None:
            part.baseline.append(earlier)
    return [p for i, p in enumerate(parts) if i == 0 or p.baseline]


def change_flags(tests: Sequence[SeriesTest]) -> list[ChangeFlag]:
    """Flag the changes among one cycle's group × theme tests, in input order."""
    chosen: list[tuple[int, list[_Part]]] = []
    for i, test in enumerate(tests):
        k = validate_threshold(test.threshold)
        if test.current.shown and test.current.n >= k:
            parts = _parts(test)
            if parts[0].baseline:
                chosen.append((i, parts))
    # The variance model of each item set, from every baseline that asked it.
    points: dict[str, list[tuple[float, float]]] = {}
    for _, parts in chosen:
        for part in parts:
            point = _spread(part.baseline)
            if point is not None:
                points.setdefault(part.items, []).append(point)
    model: dict[str, tuple[float, float]] = {}
    for items, xy in points.items():
        moving, between = cycle_variance(
            len(xy),
            sum(x for x, _ in xy),
            sum(y for _, y in xy),
            sum(x * x for x, _ in xy),
            sum(x * y for x, y in xy),
        )
        model[items] = (float(moving), float(between))
    floor = (1.0, MIN_BETWEEN_CYCLE_SD**2)
    results = {i: _test(tests[i], parts, model, floor) for i, parts in chosen}
    p_values = [results[i].p for i, _ in chosen]
    decisions = benjamini_hochberg([p for p in p_values if p is not None], CHANGE_ALPHA)
    rejected = dict(zip(results, decisions, strict=True))
    flags = []
    for i, test in enumerate(tests):
        flag = results.get(i)
        if flag is None:
            flags.append(ChangeFlag(test.team_id, test.theme, None))
            continue
        delta = flag.delta if flag.delta is not None else 0.0
        if rejected[i] and abs(delta) >= MIN_CHANGE - MIN_CHANGE_TOLERANCE:
            flag = ChangeFlag(**{**flag.__dict__, "direction": "up" if delta > 0 else "down"})
        flags.append(flag)
    return flags


def _test(
    test: SeriesTest,
    parts: list[_Part],
    model: dict[str, tuple[float, float]],
    floor: tuple[float, float],
) -> ChangeFlag:
    """The window against its baseline, its item sets combined by inverse variance."""
    weight = weighted = weighted_base = 0.0
    pieces: list[tuple[float, float, int]] = []  # (weight, sampling variance, df)
    for part in parts:
        wn, wm, w_squares, w_df = _pooled(part.window)
        bn, bm, b_squares, b_df = _pooled(part.baseline)
        df = w_df + b_df
        moving, tau2 = model.get(part.items, floor)
        sampling = moving * (w_squares + b_squares) / df * (1 / wn + 1 / bn)
        variance = sampling + tau2 * (1 / len(part.window) + 1 / len(part.baseline))
        w = 1 / variance
        weight += w
        weighted += w * (wm - bm)
        weighted_base += w * bm
        pieces.append((w, sampling, df))
    delta = weighted / weight
    var = 1 / weight
    num = sum((w / weight) ** 2 * s for w, s, _ in pieces)
    den = sum(((w / weight) ** 2 * s) ** 2 / df for w, s, df in pieces)
    df_total = num**2 / den if den > 0 else math.inf
    t = delta / math.sqrt(var)
    p = float(2 * sps.t.sf(abs(t), df_total))
    half = float(sps.t.ppf(T95, df_total)) * math.sqrt(var)
    return ChangeFlag(
        test.team_id,
        test.theme,
        None,
        p=p,
        delta=delta,
        delta_low=delta - half,
        delta_high=delta + half,
        window_n=sum(c.n for part in parts for c in part.window),
        window_cycles=sum(len(part.window) for part in parts),
        baseline_n=sum(c.n for part in parts for c in part.baseline),
        baseline_mean=weighted_base / weight,
        baseline_cycles=sum(len(part.baseline) for part in parts),
        compared=tuple(
            sorted(
                c.position
                for part in parts
                for c in (*part.window, *part.baseline)
                if c is not test.current
            )
        ),
    )


def _sq(sd: float) -> float:
    return 0.0 if math.isnan(sd) else sd * sd
