"""Scoring on plain data: recoding, person and team theme scores, distributions, change flags."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from pulse.confidentiality import validate_threshold
from pulse.instrument import SCALE_RANGES, ItemDefinition
from pulse.stats import (
    benjamini_hochberg,
    mean_interval,
    welch_p,
    welch_p_from_stats,
    wilson_interval,
)

FAVOURABLE_CUTOFF = 4.0
MIN_CHANGE = 0.3
CHANGE_ALPHA = 0.05
# Differences of means are computed in binary floating point: 3.5 - 3.2 is 0.29999999999999982.
# The tolerance keeps a true 0.3 change from missing the bar; it is far below any real difference.
_MIN_CHANGE_TOLERANCE = 1e-9

Direction = Literal["up", "down"]


def recode(item: ItemDefinition, value: int | None) -> float | None:
    """Return an answer ready to average: None stays None, reverse items become 6 - x."""
    if value is None:
        return None
    low, high = SCALE_RANGES[item.scale]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"item {item.code!r}: answer must be an integer {low}..{high}, got {value!r}"
        )
    if item.reverse:
        return float(low + high - value)
    return float(value)


def answers_needed(asked_count: int) -> int:
    """Return how many of a theme's asked items must be answered: two thirds, rounded up."""
    if asked_count < 1:
        raise ValueError("a theme score needs at least one asked item")
    return -(-2 * asked_count // 3)


def person_theme_score(
    asked: Sequence[ItemDefinition], answers: Mapping[str, int | None]
) -> float | None:
    """Return one person's theme score, or None when too few of the theme's items were answered.

    `asked` holds the items of one theme that the cycle asked; `answers` maps item codes to
    raw values, where a missing code or None ("don't know", skipped) counts as not answered.
    Answers to other items are ignored. The score counts only when at least ceil(2/3 x asked)
    items were answered: 4 of 6, 4 of 5, 2 of 3, and the anchor alone when only it was asked.
    """
    if not asked:
        raise ValueError("person_theme_score needs at least one asked item")
    themes = {item.theme for item in asked}
    if len(themes) != 1:
        raise ValueError(f"asked items must all belong to one theme, got {sorted(themes)}")
    if asked[0].scale == "nps":
        raise ValueError("the eNPS item has no theme score")
    if len({item.code for item in asked}) != len(asked):
        raise ValueError("asked items must not repeat")
    scored = [recode(item, answers.get(item.code)) for item in asked]
    answered = [value for value in scored if value is not None]
    if len(answered) < answers_needed(len(asked)):
        return None
    return sum(answered) / len(answered)


@dataclass(frozen=True)
class TeamScore:
    """A team's theme score: mean with its t-interval and favourable share with its Wilson band.

    Percentages are on a 0–100 scale. For the AI theme "favourable" reads "% concerned".
    Nothing here is suppressed: the caller applies the confidentiality threshold.
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    sd: float
    favourable_n: int
    favourable_pct: float
    fav_low: float
    fav_high: float


def team_theme_score(person_scores: Sequence[float]) -> TeamScore:
    """Return the team score over the person scores of one theme and cycle."""
    if not person_scores:
        raise ValueError("team_theme_score needs at least one person score")
    mean, low, high = mean_interval(person_scores)
    n = len(person_scores)
    sd = math.nan if n < 2 else math.sqrt(sum((x - mean) ** 2 for x in person_scores) / (n - 1))
    favourable = sum(1 for score in person_scores if score >= FAVOURABLE_CUTOFF)
    fav_low, fav_high = wilson_interval(favourable, n)
    return TeamScore(
        n=n,
        mean=mean,
        ci_low=low,
        ci_high=high,
        sd=sd,
        favourable_n=favourable,
        favourable_pct=100.0 * favourable / n,
        fav_low=100.0 * fav_low,
        fav_high=100.0 * fav_high,
    )


def item_distribution(values: Sequence[int | None]) -> dict[int, int]:
    """Count raw (not reverse-coded) answers 1..5; None ("don't know", skipped) is not counted."""
    counts = dict.fromkeys(range(1, 6), 0)
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool) or value not in counts:
            raise ValueError(f"answer must be an integer 1..5, got {value!r}")
        counts[value] += 1
    return counts


def top_two_box_pct(distribution: Mapping[int, int]) -> float | None:
    """Return the percentage of answers that were 4 or 5, or None when nobody answered."""
    answered = sum(distribution.values())
    if answered == 0:
        return None
    return 100.0 * (distribution.get(4, 0) + distribution.get(5, 0)) / answered


def net_promoter_score(values: Sequence[int]) -> float:
    """Return the eNPS, -100..100: percent promoters (9–10) minus percent detractors (0–6)."""
    if not values:
        raise ValueError("net_promoter_score needs at least one answer")
    if any(isinstance(v, bool) or not 0 <= v <= 10 for v in values):
        raise ValueError("eNPS answers must be integers 0..10")
    promoters = sum(1 for v in values if v >= 9)
    detractors = sum(1 for v in values if v <= 6)
    return 100.0 * (promoters - detractors) / len(values)


@dataclass(frozen=True)
class ChangeTest:
    """One team × theme comparison between the previous and the current cycle."""

    team_id: Hashable
    theme: str
    previous: Sequence[float]
    current: Sequence[float]
    same_item_set: bool
    threshold: int


@dataclass(frozen=True)
class ChangeFlag:
    """Outcome of a change test; direction None reads "no detectable change".

    delta (current minus previous mean) and p (Welch, before FDR control) are None when the
    test was not eligible: either cycle below the threshold, or a different item set.
    """

    team_id: Hashable
    theme: str
    delta: float | None
    p: float | None
    direction: Direction | None

    @property
    def flagged(self) -> bool:
        """Whether the change is real enough to show."""
        return self.direction is not None


@dataclass(frozen=True)
class Summary:
    """A theme score reduced to what a change test needs: n, mean and sd (ddof=1)."""

    n: int
    mean: float
    sd: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise person scores."""
        n = len(values)
        mean = sum(values) / n if n else math.nan
        sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else math.nan
        return cls(n, mean, sd)


@dataclass(frozen=True)
class SummaryChangeTest:
    """A ChangeTest on stored aggregates instead of person-level scores."""

    team_id: Hashable
    theme: str
    previous: Summary
    current: Summary
    same_item_set: bool
    threshold: int


def _decide(
    tests: Sequence[ChangeTest | SummaryChangeTest],
    eligible: list[bool],
    p_values: dict[int, float],
    deltas: dict[int, float],
) -> list[ChangeFlag]:
    decisions = benjamini_hochberg(list(p_values.values()), CHANGE_ALPHA)
    rejected = dict(zip(p_values, decisions, strict=True))
    flags = []
    for i, test in enumerate(tests):
        if not eligible[i]:
            flags.append(ChangeFlag(test.team_id, test.theme, None, None, None))
            continue
        delta = deltas[i]
        big_enough = abs(delta) >= MIN_CHANGE - _MIN_CHANGE_TOLERANCE
        direction: Direction | None = None
        if rejected[i] and big_enough:
            direction = "up" if delta > 0 else "down"
        flags.append(ChangeFlag(test.team_id, test.theme, delta, p_values[i], direction))
    return flags


def change_flags(tests: Sequence[ChangeTest]) -> list[ChangeFlag]:
    """Flag significant changes across one cycle's team × theme tests, in input order.

    A change is flagged only when both cycles reach the test's threshold, the item set is the
    same, |delta| >= 0.3 and Welch's p stays below .05 after Benjamini–Hochberg control over
    all eligible tests of the cycle. Ineligible comparisons are not tests, so they neither enter
    the FDR family nor report a delta or p: below the threshold no figure may leak.
    """
    eligible = []
    for test in tests:
        k = validate_threshold(test.threshold)
        eligible.append(test.same_item_set and len(test.previous) >= k and len(test.current) >= k)
    p_values = {
        i: welch_p(test.previous, test.current) for i, test in enumerate(tests) if eligible[i]
    }
    deltas = {
        i: sum(test.current) / len(test.current) - sum(test.previous) / len(test.previous)
        for i, test in enumerate(tests)
        if eligible[i]
    }
    return _decide(tests, eligible, p_values, deltas)


def change_flags_from_summaries(tests: Sequence[SummaryChangeTest]) -> list[ChangeFlag]:
    """change_flags on stored aggregates: the same rules, Welch's test from n, mean and sd."""
    eligible = []
    for test in tests:
        k = validate_threshold(test.threshold)
        eligible.append(test.same_item_set and test.previous.n >= k and test.current.n >= k)
    chosen = [i for i, ok in enumerate(eligible) if ok]
    pairs = [(tests[i].previous, tests[i].current) for i in chosen]
    p_array = welch_p_from_stats(
        [a.mean for a, _ in pairs],
        [a.sd for a, _ in pairs],
        [a.n for a, _ in pairs],
        [b.mean for _, b in pairs],
        [b.sd for _, b in pairs],
        [b.n for _, b in pairs],
    )
    p_values = {i: float(p) for i, p in zip(chosen, p_array, strict=True)}
    deltas = {i: t.current.mean - t.previous.mean for i, t in enumerate(tests) if eligible[i]}
    return _decide(tests, eligible, p_values, deltas)


@dataclass(frozen=True)
class ChangeArrays:
    """change_flags_from_summaries as arrays: direction +1 up, -1 down, 0 none; p and delta
    NaN where the comparison was not eligible."""

    direction: npt.NDArray[np.int8]
    p: npt.NDArray[np.float64]
    delta: npt.NDArray[np.float64]


def change_flags_from_arrays(
    previous: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    current: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    *,
    family: npt.ArrayLike,
    threshold: int,
) -> ChangeArrays:
    """change_flags_from_summaries over (n, mean, sd) arrays; each `family` value (a cycle)
    is one Benjamini–Hochberg family, as one call of the scalar function would be."""
    k = validate_threshold(threshold)
    pn, pm, ps = (np.atleast_1d(np.asarray(x, dtype=float)) for x in previous)
    cn, cm, cs = (np.atleast_1d(np.asarray(x, dtype=float)) for x in current)
    families = np.atleast_1d(np.asarray(family))
    size = len(pn)
    direction = np.zeros(size, dtype=np.int8)
    p = np.full(size, np.nan)
    delta = np.full(size, np.nan)
    chosen = np.nonzero((pn >= k) & (cn >= k))[0]
    if len(chosen) == 0:
        return ChangeArrays(direction, p, delta)
    p[chosen] = welch_p_from_stats(
        pm[chosen], ps[chosen], pn[chosen], cm[chosen], cs[chosen], cn[chosen]
    )
    delta[chosen] = cm[chosen] - pm[chosen]
    rejected = np.zeros(size, dtype=bool)
    for value in np.unique(families[chosen]):
        members = chosen[families[chosen] == value]
        rejected[members] = benjamini_hochberg(p[members].tolist(), CHANGE_ALPHA)
    flagged = rejected & (np.abs(delta) >= MIN_CHANGE - _MIN_CHANGE_TOLERANCE)
    direction[flagged] = np.where(delta[flagged] > 0, 1, -1)
    return ChangeArrays(direction, p, delta)
