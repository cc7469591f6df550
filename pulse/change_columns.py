"""The change-flag rule of pulse.change_flags over whole columns of stored rows.

Aggregation flags every group × theme of the cycles it finalises at once, tens of thousands of
rows in a rebuild: the window, the baselines, the between-cycle variance and the decision are
found with sorted keys and bincounts instead of one Python object per row. The rule is that of
pulse.change_flags.change_flags, and the tests check that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from pulse.change_flags import (
    BASELINE_CYCLES,
    CHANGE_ALPHA,
    MIN_BETWEEN_CYCLE_SD,
    MIN_CHANGE,
    MIN_CHANGE_TOLERANCE,
    T95,
    WINDOW_CYCLES,
    cycle_variance,
)
from pulse.confidentiality import validate_threshold

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FlagArrays:
    """change_flags over rows: one entry per row; NaN (or 0, -1) where no test was made.

    direction is +1 up, -1 down, 0 none. `compared_test` and `compared_row` pair each tested
    row with every other row its test read.
    """

    direction: npt.NDArray[np.int8]
    p: FloatArray
    delta: FloatArray
    delta_low: FloatArray
    delta_high: FloatArray
    window_n: IntArray
    window_cycles: IntArray
    baseline_n: IntArray
    baseline_mean: FloatArray
    baseline_cycles: IntArray
    compared_test: IntArray
    compared_row: IntArray


def _pool(
    owner: IntArray, n: FloatArray, mean: FloatArray, sd: FloatArray, size: int
) -> tuple[FloatArray, ...]:
    """Pool rows into one summary per owner, as _pooled does: n, mean, squares and degrees
    of freedom within cycles, cycles, and the spread of the cycle means with the sampling
    error their sds predict for it (both NaN below two cycles)."""

    def total_of(weights: FloatArray | None = None) -> FloatArray:
        return np.asarray(np.bincount(owner, weights=weights, minlength=size), dtype=np.float64)

    cycles = total_of()
    total = total_of(n)
    within = np.where(n > 1, n - 1, 0.0)
    squares = total_of(within * np.nan_to_num(sd) ** 2)
    df = total_of(within)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = total_of(n * mean) / total
        average = total_of(mean) / cycles
        spread = total_of((mean - average[owner]) ** 2) / (cycles - 1)
        sampling = total_of(np.nan_to_num(sd) ** 2 / n) / cycles
        two = cycles >= 2
        spread = np.where(two, spread, np.nan)
        sampling = np.where(two, sampling, np.nan)
    return total, pooled, squares, df, cycles, spread, sampling


def flag_rows(
    *,
    series: IntArray,
    position: IntArray,
    items: IntArray,
    n: IntArray,
    mean: FloatArray,
    sd: FloatArray,
    shown: BoolArray,
    tested: BoolArray,
    family: IntArray,
    threshold: int,
    window: int = WINDOW_CYCLES,
    alpha: float = CHANGE_ALPHA,
    min_between_sd: float = MIN_BETWEEN_CYCLE_SD,
    estimate_between: bool = True,
    overlap: bool = True,
) -> FlagArrays:
    """pulse.change_flags.change_flags for every `tested` row, reading the other rows of its
    series.

    Rows are a group's figures for a theme in a cycle: `series` names the group × theme ×
    schedule, `position` the cycle's place in the schedule, `items` its item set (any integer
    code), `shown` whether the row may be read at all. Each `family` value (a cycle) is one
    Benjamini–Hochberg family and one estimate of between-cycle variance per item set.
    The keyword settings after `threshold` exist for the benchmark's candidates; the product
    uses the defaults, which are the rule of change_flags.
    """
    k = validate_threshold(threshold)
    size = len(series)
    n_f = np.asarray(n, dtype=np.float64)
    readable = np.asarray(shown, dtype=np.bool_) & (n_f >= k)
    out = _empty(size)
    tests = np.flatnonzero(np.asarray(tested, dtype=np.bool_) & readable)
    if len(tests) == 0:
        return out
    # Rows found by (series, position) through one sorted key.
    span = int(position.max()) + BASELINE_CYCLES + WINDOW_CYCLES + 2
    offset = WINDOW_CYCLES + BASELINE_CYCLES
    key = series.astype(np.int64) * span + position + offset
    order = np.argsort(key, kind="stable")
    ordered = key[order]

    def row_at(wanted: IntArray) -> IntArray:
        at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
        found = order[at]
        return np.where((ordered[at] == wanted) & readable[found], found, -1)

    base_key = series[tests].astype(np.int64) * span + position[tests] + offset
    before = row_at(base_key - 1) if window > 1 else np.full(len(tests), -1)
    # The earlier cycle joins the window only when something before it asked the current
    # cycle's items; early in a schedule it is part of the baseline instead.
    ahead = np.zeros(len(tests), dtype=np.bool_)
    for d in range(2, BASELINE_CYCLES + 2):
        row = row_at(base_key - d)
        ahead |= (row >= 0) & (items[np.maximum(row, 0)] == items[tests])
    has_before = (before >= 0) & ahead
    # Parts: slot 0 holds the current cycle's item set, slot 1 the earlier cycle's when other.
    count = len(tests)
    part_items = np.stack([items[tests], np.where(has_before, items[before], -1)], axis=1)
    second = has_before & (part_items[:, 1] != part_items[:, 0])
    part_items[~second, 1] = -1
    w_rows = [tests, before[has_before]]
    w_owner = [np.arange(count) * 2, np.arange(count)[has_before] * 2 + second[has_before]]
    b_rows: list[IntArray] = []
    b_owner: list[IntArray] = []
    first = base_key - has_before
    for d in range(1, BASELINE_CYCLES + 1):
        row = row_at(first - d)
        hit = row >= 0
        slot0 = hit & (items[np.maximum(row, 0)] == part_items[:, 0])
        slot1 = hit & (items[np.maximum(row, 0)] == part_items[:, 1])
        for slot, chosen in ((0, slot0), (1, slot1)):
            b_rows.append(row[chosen])
            b_owner.append(np.flatnonzero(chosen) * 2 + slot)
    wr, wo = np.concatenate(w_rows), np.concatenate(w_owner)
    br, bo = np.concatenate(b_rows), np.concatenate(b_owner)
    parts = count * 2
    mean_f, sd_f = np.asarray(mean, dtype=np.float64), np.asarray(sd, dtype=np.float64)
    wn, wm, w_squares, w_df, wc, _, _ = _pool(wo, n_f[wr], mean_f[wr], sd_f[wr], parts)
    bn, bm, b_squares, b_df, bc, spread, predicted = _pool(bo, n_f[br], mean_f[br], sd_f[br], parts)
    valid = (wc[0::2] > 0) & (bc[0::2] > 0)
    usable = (wc > 0) & (bc > 0) & np.repeat(valid, 2)
    # Between-cycle variance per family and item set, from every usable part's baseline.
    part_family = np.repeat(np.asarray(family)[tests], 2)
    part_set = part_items.reshape(-1)
    if not estimate_between:
        spread = np.full(parts, np.nan)
    moving, tau2 = _cycle_variance(
        part_family, part_set, spread, predicted, usable, min_between_sd, overlap
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        df = w_df + b_df
        sampling = moving * (w_squares + b_squares) / df * (1 / wn + 1 / bn)
        variance = sampling + tau2 * (1 / wc + 1 / bc)
        w = np.where(usable, 1 / variance, 0.0).reshape(count, 2)
        weight = w.sum(axis=1)
        diff = np.where(usable, wm - bm, 0.0).reshape(count, 2)
        delta = (w * diff).sum(axis=1) / weight
        base_mean = (w * np.where(usable, bm, 0.0).reshape(count, 2)).sum(axis=1) / weight
        var = 1 / weight
        share = (w / weight[:, None]) ** 2 * np.where(usable, sampling, 0.0).reshape(count, 2)
        num = share.sum(axis=1)
        den = (share**2 / np.where(usable, df, 1.0).reshape(count, 2)).sum(axis=1)
        df_total = np.where(den > 0, num**2 / den, np.inf)
        t = delta / np.sqrt(var)
        p = 2 * sps.t.sf(np.abs(t), df_total)
        half = sps.t.ppf(T95, df_total) * np.sqrt(var)
    rows = tests[valid]
    out.p[rows] = p[valid]
    out.delta[rows] = delta[valid]
    out.delta_low[rows] = (delta - half)[valid]
    out.delta_high[rows] = (delta + half)[valid]
    used = usable.reshape(count, 2)
    out.window_n[rows] = (np.where(used, wn.reshape(count, 2), 0).sum(axis=1))[valid]
    out.window_cycles[rows] = (np.where(used, wc.reshape(count, 2), 0).sum(axis=1))[valid]
    out.baseline_n[rows] = (np.where(used, bn.reshape(count, 2), 0).sum(axis=1))[valid]
    out.baseline_cycles[rows] = (np.where(used, bc.reshape(count, 2), 0).sum(axis=1))[valid]
    out.baseline_mean[rows] = base_mean[valid]
    out.direction[rows] = decide(p[valid], delta[valid], np.asarray(family)[rows], alpha)
    # What each test read besides its own row: the rows of its usable parts.
    keep_w = usable[wo] & valid[wo // 2] & (wr != tests[wo // 2])
    keep_b = usable[bo] & valid[bo // 2]
    pair_test = np.concatenate([tests[wo[keep_w] // 2], tests[bo[keep_b] // 2]])
    pair_row = np.concatenate([wr[keep_w], br[keep_b]])
    return FlagArrays(
        out.direction,
        out.p,
        out.delta,
        out.delta_low,
        out.delta_high,
        out.window_n,
        out.window_cycles,
        out.baseline_n,
        out.baseline_mean,
        out.baseline_cycles,
        pair_test.astype(np.int64),
        pair_row.astype(np.int64),
    )


def _empty(size: int) -> FlagArrays:
    nan = np.full(size, np.nan)
    none = np.full(size, -1, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    return FlagArrays(
        np.zeros(size, dtype=np.int8),
        nan.copy(),
        nan.copy(),
        nan.copy(),
        nan.copy(),
        none.copy(),
        none.copy(),
        none.copy(),
        nan.copy(),
        none.copy(),
        empty,
        empty,
    )


def _cycle_variance(
    family: IntArray,
    items: IntArray,
    spread: FloatArray,
    predicted: FloatArray,
    usable: BoolArray,
    min_sd: float,
    overlap: bool,
) -> tuple[FloatArray, FloatArray]:
    """Each part's variance model (pulse.change_flags.cycle_variance): the share of the
    sampling error that moves between cycles and the between-cycle variance, fitted over
    the usable parts of its family and item set with two or more baseline cycles."""
    known = usable & ~np.isnan(spread)
    parts = len(family)
    if not known.any():
        return np.ones(parts), np.full(parts, min_sd**2)
    _, group = np.unique(family * (int(items.max()) + 2) + items + 1, return_inverse=True)
    group = group.reshape(-1)
    size = int(group.max()) + 1
    x, y = np.where(known, predicted, 0.0), np.where(known, spread, 0.0)

    def total(values: FloatArray) -> FloatArray:
        return np.asarray(
            np.bincount(group[known], weights=values[known], minlength=size), dtype=np.float64
        )

    moving, tau2 = cycle_variance(
        total(np.ones(parts)), total(x), total(y), total(x * x), total(x * y), min_sd, overlap
    )
    return moving[group], tau2[group]


def decide(
    p: FloatArray, delta: FloatArray, family: IntArray, alpha: float = CHANGE_ALPHA
) -> npt.NDArray[np.int8]:
    """Directions (+1, -1, 0) for tests: Benjamini–Hochberg within each family, |Δ| ≥ 0.3.

    The step-up rule of pulse.stats.benjamini_hochberg for every family at once: within a
    family of m tests sorted by p, reject the first k*, the largest rank i with
    p_(i) · (m / i) ≤ alpha (the same arithmetic as scipy's adjusted p-values).
    """
    direction = np.zeros(len(p), dtype=np.int8)
    if len(p) == 0:
        return direction
    order = np.lexsort((p, family))
    families = np.asarray(family)[order]
    starts = np.flatnonzero(np.r_[True, families[1:] != families[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    member = np.repeat(np.arange(len(starts)), sizes)
    rank = (np.arange(len(order)) - starts[member] + 1).astype(np.float64)
    m = sizes[member].astype(np.float64)
    passing = np.asarray(p, dtype=np.float64)[order] * (m / rank) <= alpha
    last = np.maximum.reduceat(np.where(passing, rank, 0.0), starts)
    rejected = np.zeros(len(p), dtype=np.bool_)
    rejected[order] = rank <= last[member]
    flagged = rejected & (np.abs(delta) >= MIN_CHANGE - MIN_CHANGE_TOLERANCE)
    direction[flagged] = np.where(delta[flagged] > 0, 1, -1)
    return direction
