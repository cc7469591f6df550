"""Scoring rules of INSTRUMENT.md on plain data: recoding, the 2/3 rule, team scores, changes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from pulse.instrument import ENPS_ITEM, get_item, theme_items
from pulse.scoring import (
    ChangeTest,
    answers_needed,
    change_flags,
    item_distribution,
    net_promoter_score,
    person_theme_score,
    recode,
    team_theme_score,
    top_two_box_pct,
)
from pulse.stats import benjamini_hochberg

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
    fav = sum(1 for s in scores if s >= 4.0)
    z = sps.norm.ppf(0.975)
    p = fav / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    wil = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))

    got = team_theme_score(scores)

    assert got.n == n
    assert got.mean == pytest.approx(mean)
    assert got.sd == pytest.approx(sd)
    assert (got.ci_low, got.ci_high) == pytest.approx((mean - half, mean + half))
    assert got.favourable_n == fav
    assert got.favourable_pct == pytest.approx(100 * p)
    assert got.fav_low == pytest.approx(100 * (centre - wil), abs=1e-7)
    assert got.fav_high == pytest.approx(100 * (centre + wil), abs=1e-7)


def test_favourable_counts_exactly_four() -> None:
    # 24/6 is exactly 4.0; the rule is >= 4.0, so this person is favourable.
    four = person_theme_score(
        SAFETY,
        {
            "safety.anchor": 5,
            "safety.mistakes": 2,
            "safety.voice": 4,
            "safety.help": 2,
            "safety.inclusion": 3,
            "safety.skills": 4,
        },
    )
    assert four == 4.0
    score = team_theme_score([four, 3.99, 5.0, 1.0])
    assert score.favourable_n == 2
    assert score.favourable_pct == 50.0


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


def _test(
    team: str,
    previous: list[float],
    current: list[float],
    *,
    theme: str = "safety",
    same_item_set: bool = True,
    threshold: int = 5,
) -> ChangeTest:
    return ChangeTest(team, theme, previous, current, same_item_set, threshold)


LOW = [2.0, 2.5, 2.0, 3.0, 2.5, 2.0, 2.5, 3.0]
HIGH = [4.0, 4.5, 4.0, 3.5, 4.5, 4.0, 4.5, 4.0]


def test_change_flag_up_and_down() -> None:
    up, down = change_flags([_test("a", LOW, HIGH), _test("b", HIGH, LOW)])
    assert up.direction == "up" and up.flagged
    assert down.direction == "down"
    assert up.delta == pytest.approx(np.mean(HIGH) - np.mean(LOW))
    assert up.p == pytest.approx(sps.ttest_ind(LOW, HIGH, equal_var=False).pvalue)


def test_change_needs_threshold_in_both_cycles() -> None:
    k = 5
    flags = change_flags(
        [
            _test("at-k", LOW[:k], HIGH[:k], threshold=k),
            _test("below-k-now", LOW, HIGH[: k - 1], threshold=k),
            _test("below-k-before", LOW[: k - 1], HIGH, threshold=k),
        ]
    )
    assert flags[0].flagged
    for flag in flags[1:]:
        assert not flag.flagged
        assert flag.delta is None and flag.p is None


def test_change_needs_same_item_set() -> None:
    (flag,) = change_flags([_test("a", LOW, HIGH, same_item_set=False)])
    assert flag.direction is None and flag.delta is None


def test_change_below_min_delta_is_not_flagged() -> None:
    # A tiny but consistent shift: p is minute yet |delta| = 0.2 < 0.3.
    before = [3.0, 3.1, 3.0, 3.1, 3.0, 3.1] * 5
    after = [v + 0.2 for v in before]
    (flag,) = change_flags([_test("a", before, after)])
    assert flag.p is not None and flag.p < 1e-6
    assert flag.delta == pytest.approx(0.2)
    assert not flag.flagged


def test_change_of_exactly_min_delta_counts() -> None:
    # Means 3.0 and 3.3 differ by 0.2999... in floating point; the rule reads "at least 0.3".
    before = [2.5, 3.0, 3.5] * 10
    after = [2.8, 3.3, 3.8] * 10
    (flag,) = change_flags([_test("a", before, after)])
    assert flag.delta is not None and abs(flag.delta) < 0.3
    assert flag.direction == "up"


def test_change_flags_apply_fdr_across_the_cycle() -> None:
    rng = np.random.default_rng(7)
    tests = []
    for i in range(30):
        before = list(np.clip(rng.normal(3.0, 0.9, 12), 1, 5))
        shift = 0.8 if i < 3 else 0.0
        after = list(np.clip(rng.normal(3.0 + shift, 0.9, 12), 1, 5))
        tests.append(_test(f"t{i}", before, after, theme="learning"))
    tests.append(_test("small", [3.0] * 3, [5.0] * 3))
    flags = change_flags(tests)

    eligible = [t for t in tests if t.team_id != "small"]
    raw_p = [sps.ttest_ind(t.previous, t.current, equal_var=False).pvalue for t in eligible]
    rejected = benjamini_hochberg(raw_p)
    for flag, test, p, reject in zip(flags, eligible, raw_p, rejected, strict=False):
        delta = np.mean(test.current) - np.mean(test.previous)
        assert flag.p == pytest.approx(p)
        assert flag.flagged == (reject and abs(delta) >= 0.3)
    assert any(flag.flagged for flag in flags)
    # Some test is significant on its own yet not after FDR control, so control mattered.
    assert any(p < 0.05 and not r for p, r in zip(raw_p, rejected, strict=True))
    assert flags[-1].delta is None and not flags[-1].flagged


def test_change_flags_reject_bad_threshold() -> None:
    with pytest.raises(ValueError):
        change_flags([_test("a", LOW, HIGH, threshold=2)])
