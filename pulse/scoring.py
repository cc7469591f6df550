"""Scoring on plain data: recoding, person and team theme scores, favourable shares,
distributions. Change flags have their own module, pulse.change_flags."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pulse.instrument import SCALE_RANGES, ItemDefinition
from pulse.stats import clustered_wilson, mean_interval

# An answer is favourable at 4 or 5 after reverse coding (for the AI theme: concerned).
FAVOURABLE_ANSWER = 4


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


def _check_asked(asked: Sequence[ItemDefinition]) -> None:
    if not asked:
        raise ValueError("a theme score needs at least one asked item")
    themes = {item.theme for item in asked}
    if len(themes) != 1:
        raise ValueError(f"asked items must all belong to one theme, got {sorted(themes)}")
    if asked[0].scale == "nps":
        raise ValueError("the eNPS item has no theme score")
    if len({item.code for item in asked}) != len(asked):
        raise ValueError("asked items must not repeat")


def person_theme_score(
    asked: Sequence[ItemDefinition], answers: Mapping[str, int | None]
) -> float | None:
    """Return one person's theme score, or None when too few of the theme's items were answered.

    `asked` holds the items of one theme that the cycle asked; `answers` maps item codes to
    raw values, where a missing code or None ("don't know", skipped) counts as not answered.
    Answers to other items are ignored. The score counts only when at least ceil(2/3 x asked)
    items were answered: 4 of 6, 4 of 5, 2 of 3, and the anchor alone when only it was asked.
    """
    _check_asked(asked)
    scored = [recode(item, answers.get(item.code)) for item in asked]
    answered = [value for value in scored if value is not None]
    if len(answered) < answers_needed(len(asked)):
        return None
    return sum(answered) / len(answered)


def person_favourable(
    asked: Sequence[ItemDefinition], answers: Mapping[str, int | None]
) -> tuple[int, int]:
    """One person's (favourable answers, answers) on a theme's asked items, after reverse
    coding; "don't know" and skipped answers are not answers."""
    _check_asked(asked)
    scored = [recode(item, answers.get(item.code)) for item in asked]
    answered = [value for value in scored if value is not None]
    return sum(1 for value in answered if value >= FAVOURABLE_ANSWER), len(answered)


@dataclass(frozen=True)
class TeamScore:
    """A team's theme score: the mean of person scores with its t-interval.

    Nothing here is suppressed: the caller applies the confidentiality threshold.
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    sd: float


def team_theme_score(person_scores: Sequence[float]) -> TeamScore:
    """Return the team score over the person scores of one theme and cycle."""
    if not person_scores:
        raise ValueError("team_theme_score needs at least one person score")
    mean, low, high = mean_interval(person_scores)
    n = len(person_scores)
    sd = math.nan if n < 2 else math.sqrt(sum((x - mean) ** 2 for x in person_scores) / (n - 1))
    return TeamScore(n=n, mean=mean, ci_low=low, ci_high=high, sd=sd)


@dataclass(frozen=True)
class FavourableShare:
    """The share of answers at 4–5 after reverse coding, in percent, with its interval.

    For the AI theme "favourable" reads "% concerned". The interval allows for each person
    giving several answers (pulse.stats.clustered_wilson).
    """

    favourable: int
    answers: int
    pct: float
    low: float
    high: float


def favourable_share(people: Sequence[tuple[int, int]]) -> FavourableShare:
    """The favourable share over people's (favourable answers, answers), one pair each for
    the people whose theme score counts."""
    answers = sum(m for _, m in people)
    if answers == 0:
        raise ValueError("favourable_share needs at least one answer")
    favourable = sum(y for y, _ in people)
    low, high = clustered_wilson(
        favourable,
        answers,
        sum(y * y for y, _ in people),
        sum(y * m for y, m in people),
        sum(m * m for _, m in people),
        len(people),
    )
    return FavourableShare(
        favourable=favourable,
        answers=answers,
        pct=100.0 * favourable / answers,
        low=100.0 * float(low[0]),
        high=100.0 * float(high[0]),
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
