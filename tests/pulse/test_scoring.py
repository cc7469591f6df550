"""Scoring rules of INSTRUMENT.md on plain data: recoding, the 2/3 rule, team scores, shares.

Change flags have their own rules and tests: tests/pulse/test_change_detection.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from pulse.instrument import ENPS_ITEM, get_item, theme_items
from pulse.scoring import (
    answers_needed,
    favourable_share,
    item_distribution,
    net_promoter_score,
    person_favourable,
    person_theme_score,
    recode,
    team_theme_score,
    top_two_box_pct,
)

SAFETY = theme_items("safety")
AI = theme_items("ai")


def test_recode_reverses_only_reverse_items() -> None:
    assert [recode(get_item("safety.voice"), v) for v in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [recode(get_item("safety.mistakes"), v) for v in range(1, 6)] == [5, 4, 3, 2, 1]
    assert recode(get_item("ai.checking"), 2) == 4.0
    assert recode(get_item("ai.checking"), None) is None
    assert recode(ENPS_ITEM, 0) == 0.0
    assert recode(ENPS_ITEM, 10) == 10.0


@pytest.mark.parametrize("value", [0, 6, -1, True, 2.5])
def test_recode_rejects_out_of_range(value: object) -> None:
    with pytest.raises(ValueError):
        recode(get_item("safety.voice"), value)  # type: ignore[arg-type]


def test_recode_rejects_out_of_range_nps() -> None:
    with pytest.raises(ValueError):
        recode(ENPS_ITEM, 11)


@pytest.mark.parametrize(("asked", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4)])
def test_answers_needed_is_two_thirds_rounded_up(asked: int, needed: int) -> None:
    assert answers_needed(asked) == needed
    assert answers_needed(asked) == math.ceil(2 * asked / 3)


def test_person_score_full_module_needs_four_of_six() -> None:
    three = {"safety.anchor": 5, "safety.voice": 4, "safety.skills": 3}
    assert person_theme_score(SAFETY, three) is None
    four = {**three, "safety.mistakes": 1}
    # safety.mistakes is reverse-scored: 1 becomes 5.
    assert person_theme_score(SAFETY, four) == pytest.approx((5 + 4 + 3 + 5) / 4)


def test_person_score_five_asked_needs_four() -> None:
    """ceil(2/3 x 5) = 4: three answers of five asked do not count, four do."""
    asked = SAFETY[1:]
    three = {"safety.mistakes": 2, "safety.voice": 4, "safety.help": 2}
    assert person_theme_score(asked, three) is None
    four = {**three, "safety.inclusion": 5}
    assert person_theme_score(asked, four) == pytest.approx((4 + 4 + 4 + 1) / 4)


def test_person_score_anchor_alone() -> None:
    anchor = [get_item("learning.anchor")]
    assert person_theme_score(anchor, {"learning.anchor": 2}) == 2.0
    assert person_theme_score(anchor, {}) is None
    assert person_theme_score(anchor, {"learning.anchor": None}) is None


def test_dont_know_is_not_an_answer() -> None:
    answers: dict[str, int | None] = {
        "ai.anchor": 4,
        "ai.replacement": 5,
        "ai.skills": None,
        "ai.checking": None,
        "ai.transparency": None,
        "ai.support": 2,
    }
    assert person_theme_score(AI, answers) is None
    answers["ai.checking"] = 1
    assert person_theme_score(AI, answers) == pytest.approx((4 + 5 + 5 + 4) / 4)


def test_person_score_ignores_other_themes_and_checks_input() -> None:
    answers = {"safety.anchor": 4, "learning.anchor": 1, "ai.anchor": 5}
    assert person_theme_score([get_item("safety.anchor")], answers) == 4.0
    with pytest.raises(ValueError):
        person_theme_score([get_item("safety.anchor"), get_item("ai.anchor")], answers)
    with pytest.raises(ValueError):
        person_theme_score([], answers)
    with pytest.raises(ValueError):
        person_theme_score([ENPS_ITEM], {"enps": 9})
    with pytest.raises(ValueError):
        person_theme_score(SAFETY, {"safety.anchor": 7})


@given(st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=6, max_size=6))
def test_person_score_matches_direct_computation(values: list[int | None]) -> None:
    answers = {item.code: v for item, v in zip(SAFETY, values, strict=True)}
    recoded = [
        (6 - v if item.reverse else v)
        for item, v in zip(SAFETY, values, strict=True)
        if v is not None
    ]
    expected = sum(recoded) / len(recoded) if len(recoded) >= 4 else None
    assert person_theme_score(SAFETY, answers) == expected


@pytest.mark.parametrize("seed", range(5))
def test_team_theme_score_matches_independent_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = list(np.round(rng.uniform(1, 5, size=int(rng.integers(3, 40))) * 6) / 6)
    n = len(scores)
    mean = float(np.mean(scores))
    sd = float(np.std(scores, ddof=1))
    half = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)

    got = team_theme_score(scores)

    assert got.n == n
    assert got.mean == pytest.approx(mean)
    assert got.sd == pytest.approx(sd)
    assert (got.ci_low, got.ci_high) == pytest.approx((mean - half, mean + half))


def test_favourable_answers_are_4_or_5_after_reverse_coding() -> None:
    # Reverse items answered 2 read as 4 (favourable); "don't know" is no answer at all.
    answers = {
        "safety.anchor": 5,  # 5: favourable
        "safety.mistakes": 2,  # reverse: 4, favourable
        "safety.voice": 3,  # 3: not
        "safety.help": 4,  # reverse: 2, not
        "safety.inclusion": None,  # skipped
        "safety.skills": 4,  # 4: favourable
    }
    assert person_favourable(SAFETY, answers) == (3, 5)
    # For the AI theme the same rule counts concern: reverse items answered 1 read as 5.
    assert person_favourable(AI, {"ai.anchor": 4, "ai.checking": 1, "ai.skills": None}) == (2, 2)


def test_favourable_share_by_hand() -> None:
    """Three people: (2 of 3), (0 of 2), (3 of 3) favourable answers: 5 of 8, 62.5 %.

    By hand: p = 5/8. The deviations y - p·m are 2 - 15/8 = 1/8, 0 - 10/8 = -5/4 and
    3 - 15/8 = 9/8; their squares sum to 1/64 + 100/64 + 81/64 = 182/64. The variance of the
    share is that times n / ((n - 1) M²) = 3 / (2 · 64): 182 · 3 / (64 · 2 · 64) = 0.06665.
    The effective size p(1 - p) / variance = (15/64) / 0.06665 = 3.516, between the 3
    people and the 8 answers; Wilson's interval at 3.516 answers follows.
    """
    share = favourable_share([(2, 3), (0, 2), (3, 3)])
    assert (share.favourable, share.answers) == (5, 8)
    assert share.pct == pytest.approx(62.5)
    variance = (182 / 64) * 3 / (2 * 64)
    size = (5 / 8) * (3 / 8) / variance
    assert size == pytest.approx(3.516, abs=1e-3)
    z = sps.norm.ppf(0.975)
    p = 5 / 8
    centre = (p + z * z / (2 * size)) / (1 + z * z / size)
    half = z / (1 + z * z / size) * math.sqrt(p * (1 - p) / size + z * z / (4 * size * size))
    assert share.low == pytest.approx(100 * (centre - half))
    assert share.high == pytest.approx(100 * (centre + half))
    # Wider than if the 8 answers were 8 independent people, narrower than 3 people alone.
    as_answers = favourable_share([(1, 1)] * 5 + [(0, 1)] * 3)
    assert as_answers.high - as_answers.low < share.high - share.low


def test_favourable_share_with_one_answer_each_is_wilson() -> None:
    # One answer per person: no clustering, the interval is Wilson's on the people.
    share = favourable_share([(1, 1)] * 7 + [(0, 1)] * 5)
    low, high = sps.binomtest(7, 12).proportion_ci(method="wilson")
    assert (share.low, share.high) == pytest.approx((100 * low, 100 * high))
    # A share of 0 or 1 says nothing of clustering: the cautious size, the people.
    none = favourable_share([(0, 6)] * 4)
    low, high = sps.binomtest(0, 4).proportion_ci(method="wilson")
    assert none.pct == 0.0 and none.low == 0.0
    assert none.high == pytest.approx(100 * high)
    with pytest.raises(ValueError):
        favourable_share([(0, 0)])


def test_team_theme_score_single_person() -> None:
    score = team_theme_score([3.0])
    assert score.mean == 3.0
    assert math.isnan(score.ci_low) and math.isnan(score.sd)
    with pytest.raises(ValueError):
        team_theme_score([])


def test_item_distribution_counts_raw_values() -> None:
    values = [1, 5, 5, None, 4, 2, 5, None]
    dist = item_distribution(values)
    assert dist == {1: 1, 2: 1, 3: 0, 4: 1, 5: 3}
    assert top_two_box_pct(dist) == pytest.approx(100 * 4 / 6)
    assert top_two_box_pct(item_distribution([None])) is None
    with pytest.raises(ValueError):
        item_distribution([0])


def test_net_promoter_score() -> None:
    # 3 promoters (9, 10, 9), 2 detractors (0, 6), 2 passives (7, 8).
    assert net_promoter_score([9, 10, 9, 0, 6, 7, 8]) == pytest.approx(100 * (3 - 2) / 7)
    with pytest.raises(ValueError):
        net_promoter_score([11])
