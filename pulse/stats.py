"""Statistics behind the reports: intervals, Welch tests, Cronbach's alpha and FDR control."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import stats


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 exclusive, got {confidence}")


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Return (mean, low, high) with a Student t-interval for the mean.

    One value gives the mean with NaN bounds: its spread, and so its uncertainty, is unknown.
    Identical values give a zero-width interval, which is what the t formula yields.
    No values at all raise ValueError.
    """
    _check_confidence(confidence)
    if len(values) == 0:
        raise ValueError("mean_interval needs at least one value")
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2:
        return mean, math.nan, math.nan
    sem = float(stats.sem(data))
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, df=len(data) - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


# Pure in its arguments and asked again for the same few counts on every report.
@lru_cache(maxsize=4096)
def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval (no continuity correction) for a proportion."""
    _check_confidence(confidence)
    if n <= 0:
        raise ValueError(f"wilson_interval needs n of at least 1, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def clustered_wilson(
    favourable: npt.ArrayLike,
    answers: npt.ArrayLike,
    favourable_sq: npt.ArrayLike,
    cross: npt.ArrayLike,
    answers_sq: npt.ArrayLike,
    people: npt.ArrayLike,
    confidence: float = 0.95,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson interval for a share of answers when each person gives several of them.

    Per group, from sums over its people of y (favourable answers), m (answers), y², y·m
    and m², with `people` the number of people. Answers of one person go together, so the
    share is a ratio estimate whose cluster-robust variance is
    Σ(y − p·m)² / (n (n − 1) m̄²); the Wilson interval is taken at the effective sample size
    p(1 − p) / variance, kept between the number of people and the number of answers. Where
    the data say nothing of clustering (a share of 0 or 1, or one person) the effective size
    is the number of people, the cautious end. Answers 0 give NaN bounds.
    """
    _check_confidence(confidence)
    y, m, y2, ym, m2, n = (
        np.atleast_1d(np.asarray(x, dtype=np.float64))
        for x in (favourable, answers, favourable_sq, cross, answers_sq, people)
    )
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = y / m
        squares = np.maximum(y2 - 2 * p * ym + p * p * m2, 0.0)
        variance = squares * n / ((n - 1) * m * m)
        informative = (n >= 2) & (p > 0) & (p < 1)
        effective = np.where(informative, np.where(variance > 0, p * (1 - p) / variance, m), n)
        size = np.clip(effective, n, m)
        centre = (p + z * z / (2 * size)) / (1 + z * z / size)
        half = z / (1 + z * z / size) * np.sqrt(p * (1 - p) / size + z * z / (4 * size * size))
        low = np.where(m > 0, np.maximum(centre - half, 0.0), np.nan)
        high = np.where(m > 0, np.minimum(centre + half, 1.0), np.nan)
    return low, high


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Return the two-sided p-value of Welch's t-test comparing the means of a and b.

    When both samples have zero variance the t statistic is undefined, so the answer is decided
    directly: equal means give p = 1.0 (nothing changed), different means p = 0.0 (every single
    answer moved). Each sample needs at least two values, otherwise ValueError.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError("welch_p needs at least two values in each sample")
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if np.ptp(x) == 0.0 and np.ptp(y) == 0.0:
        return 1.0 if x[0] == y[0] else 0.0
    result = stats.ttest_ind(x, y, equal_var=False)
    return float(result.pvalue)


def welch_p_from_stats(
    mean_a: npt.ArrayLike,
    sd_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    mean_b: npt.ArrayLike,
    sd_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Return Welch's two-sided p for each pair of summaries (sd with ddof=1), as welch_p would.

    Aggregates keep n, mean and sd, so a change test needs no person-level rows, and one call
    tests a whole cycle's comparisons. Zero variance on both sides is decided as in welch_p.
    """
    ma, sa, na = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (mean_a, sd_a, n_a))
    mb, sb, nb = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (mean_b, sd_b, n_b))
    if ma.size == 0:
        return np.empty(0, dtype=np.float64)
    if (na < 2).any() or (nb < 2).any():
        raise ValueError("welch_p_from_stats needs at least two values in each sample")
    flat = (sa == 0.0) & (sb == 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.ttest_ind_from_stats(ma, sa, na, mb, sb, nb, equal_var=False)
    p = np.asarray(result.pvalue, dtype=np.float64)
    return np.where(flat, np.where(ma == mb, 1.0, 0.0), p)


def cronbach_alpha(rows: Sequence[Sequence[float | None]]) -> float:
    """Return Cronbach's alpha, one row of item values per person, None for a missing answer.

    Rows with any missing value are dropped (listwise deletion). Fewer than two complete rows,
    fewer than two items, or no variance in the total score give NaN: alpha is undefined there.
    """
    if not rows:
        return math.nan
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("every row must hold the same number of items")
    complete = [row for row in rows if all(value is not None for value in row)]
    if len(complete) < 2 or width < 2:
        return math.nan
    data = np.asarray(complete, dtype=float)
    total_variance = float(data.sum(axis=1).var(ddof=1))
    if total_variance == 0.0:
        return math.nan
    item_variance = float(data.var(axis=0, ddof=1).sum())
    return (width / (width - 1)) * (1.0 - item_variance / total_variance)


def benjamini_hochberg(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Return, in input order, which hypotheses the Benjamini–Hochberg procedure rejects."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 exclusive, got {alpha}")
    if len(p_values) == 0:
        return []
    ps = np.asarray(p_values, dtype=float)
    if np.isnan(ps).any() or (ps < 0.0).any() or (ps > 1.0).any():
        raise ValueError("p-values must lie between 0 and 1")
    adjusted = stats.false_discovery_control(ps, method="bh")
    return [bool(q <= alpha) for q in adjusted]
