"""Statistics checked against independent textbook computations on generated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from pulse.stats import (
    benjamini_hochberg,
    clustered_wilson,
    cronbach_alpha,
    mean_interval,
    welch_p,
    wilson_interval,
)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_mean_interval_matches_t_formula(seed: int, confidence: float) -> None:
    rng = np.random.default_rng(seed)
    values = list(rng.integers(1, 6, size=int(rng.integers(2, 40))).astype(float))
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = sps.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)

    got = mean_interval(values, confidence)

    assert got == pytest.approx((mean, mean - half, mean + half), rel=1e-9)


def test_mean_interval_small_and_degenerate_samples() -> None:
    mean, low, high = mean_interval([3.5])
    assert mean == 3.5
    assert math.isnan(low) and math.isnan(high)
    assert mean_interval([4.0, 4.0, 4.0]) == (4.0, 4.0, 4.0)
    with pytest.raises(ValueError):
        mean_interval([])
    with pytest.raises(ValueError):
        mean_interval([1.0, 2.0], confidence=1.0)


def test_mean_interval_is_wider_for_higher_confidence() -> None:
    values = [1.0, 2.0, 4.0, 5.0, 3.0]
    _, low90, high90 = mean_interval(values, 0.90)
    _, low99, high99 = mean_interval(values, 0.99)
    assert low99 < low90 < 3.0 < high90 < high99


def _wilson_formula(successes: int, n: int, confidence: float) -> tuple[float, float]:
    z = sps.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 500),
    fraction=st.floats(0, 1),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_interval_matches_formula(n: int, fraction: float, confidence: float) -> None:
    successes = round(fraction * n)
    low, high = wilson_interval(successes, n, confidence)
    expected_low, expected_high = _wilson_formula(successes, n, confidence)
    assert low == pytest.approx(max(expected_low, 0.0), abs=1e-9)
    assert high == pytest.approx(min(expected_high, 1.0), abs=1e-9)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_wilson_interval_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)
    with pytest.raises(ValueError):
        wilson_interval(-1, 5)


def _welch_formula(a: list[float], b: list[float]) -> float:
    va = np.var(a, ddof=1) / len(a)
    vb = np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(2 * sps.t.sf(abs(t), df))


@pytest.mark.parametrize("seed", range(8))
def test_welch_p_matches_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = list(rng.normal(3.4, 0.7, size=int(rng.integers(3, 30))))
    b = list(rng.normal(3.0, 1.1, size=int(rng.integers(3, 30))))
    assert welch_p(a, b) == pytest.approx(_welch_formula(a, b), rel=1e-9)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
def test_welch_p_degenerate_samples() -> None:
    assert welch_p([4.0, 4.0, 4.0], [4.0, 4.0]) == 1.0
    assert welch_p([4.0, 4.0, 4.0], [3.0, 3.0, 3.0]) == 0.0
    # One constant sample is an ordinary Welch test: only the other sample's variance counts.
    one_constant = welch_p([4.0, 4.0, 4.0, 4.0], [3.0, 4.0, 5.0, 4.5])
    assert one_constant == pytest.approx(_welch_formula([4.0, 4.0, 4.0, 4.0], [3.0, 4.0, 5.0, 4.5]))
    with pytest.raises(ValueError):
        welch_p([4.0], [3.0, 5.0])


def _alpha_textbook(data: np.ndarray) -> float:
    """Alpha from the covariance matrix: k/(k-1) * (1 - trace / sum of all entries)."""
    cov = np.cov(data, rowvar=False, ddof=1)
    k = data.shape[1]
    return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum()))


@pytest.mark.parametrize("seed", range(6))
def test_cronbach_alpha_matches_covariance_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    people, items = int(rng.integers(5, 60)), int(rng.integers(2, 7))
    trait = rng.normal(0, 1, size=(people, 1))
    data = np.clip(np.rint(3 + trait + rng.normal(0, 0.8, size=(people, items))), 1, 5)
    assert cronbach_alpha(data.tolist()) == pytest.approx(_alpha_textbook(data), rel=1e-9)


def test_cronbach_alpha_drops_incomplete_rows() -> None:
    complete: list[list[float | None]] = [
        [1.0, 2.0, 2.0],
        [3.0, 3.0, 4.0],
        [5.0, 4.0, 5.0],
        [2.0, 2.0, 1.0],
    ]
    with_gaps: list[list[float | None]] = [
        [None, 5.0, 5.0],
        *complete[:2],
        [1.0, None, None],
        *complete[2:],
    ]
    assert cronbach_alpha(with_gaps) == pytest.approx(
        _alpha_textbook(np.array(complete, dtype=float))
    )


def test_cronbach_alpha_undefined_cases() -> None:
    assert math.isnan(cronbach_alpha([]))
    assert math.isnan(cronbach_alpha([[1.0, 2.0]]))
    assert math.isnan(cronbach_alpha([[1.0, 2.0], [None, 3.0], [4.0, None]]))
    assert math.isnan(cronbach_alpha([[1.0], [2.0], [3.0]]))
    assert math.isnan(cronbach_alpha([[3.0, 3.0], [3.0, 3.0]]))
    with pytest.raises(ValueError):
        cronbach_alpha([[1.0, 2.0], [1.0]])


def _bh_loop(p_values: list[float], alpha: float) -> list[bool]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cutoff_rank = 0
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= rank * alpha / m:
            cutoff_rank = rank
    rejected = [False] * m
    for rank, i in enumerate(order, start=1):
        rejected[i] = rank <= cutoff_rank
    return rejected


@pytest.mark.parametrize("seed", range(20))
def test_benjamini_hochberg_matches_step_up_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 40))
    # A mix of true effects (tiny p) and nulls (uniform p), as in a real cycle's tests.
    p_values = [
        float(rng.uniform(0, 0.01)) if rng.random() < 0.3 else float(rng.uniform())
        for _ in range(m)
    ]
    alpha = float(rng.choice([0.01, 0.05, 0.1]))
    assert benjamini_hochberg(p_values, alpha) == _bh_loop(p_values, alpha)


def test_benjamini_hochberg_worked_example() -> None:
    # Sorted 0.01, 0.03, 0.04 against thresholds .0125, .025, .0375, .05: only rank 1 passes,
    # although 0.03 and 0.04 would each pass an unadjusted .05 test.
    assert benjamini_hochberg([0.04, 0.01, 0.03, 0.5]) == [False, True, False, False]
    # Step-up: 0.045 at rank 4 passes .05, which carries every smaller p with it.
    assert benjamini_hochberg([0.045, 0.04, 0.03, 0.02]) == [True, True, True, True]
    assert benjamini_hochberg([]) == []
    with pytest.raises(ValueError):
        benjamini_hochberg([0.2, 1.5])
    with pytest.raises(ValueError):
        benjamini_hochberg([math.nan])


def _clustered(people: list[tuple[int, int]]) -> tuple[float, float]:
    low, high = clustered_wilson(
        sum(y for y, _ in people),
        sum(m for _, m in people),
        sum(y * y for y, _ in people),
        sum(y * m for y, m in people),
        sum(m * m for _, m in people),
        len(people),
    )
    return float(low[0]), float(high[0])


@given(st.lists(st.booleans(), min_size=2, max_size=60))
def test_clustered_wilson_with_one_answer_each_is_wilson(answers: list[bool]) -> None:
    low, high = _clustered([(int(a), 1) for a in answers])
    expected = wilson_interval(sum(answers), len(answers))
    assert (low, high) == pytest.approx(expected, abs=1e-9)


def test_clustered_wilson_widens_as_people_answer_alike() -> None:
    # 10 people × 6 answers, 30 favourable: spread evenly, or all from 5 people.
    even = _clustered([(3, 6)] * 10)
    together = _clustered([(6, 6)] * 5 + [(0, 6)] * 5)
    independent = wilson_interval(30, 60)
    by_people = wilson_interval(5, 10)
    assert even == pytest.approx(independent)  # no person differs: the answers' own size
    assert together == pytest.approx(by_people)  # wholly alike: the people's size
    mixed = _clustered([(5, 6), (4, 6), (1, 6), (2, 6), (3, 6)] * 2)
    assert independent[1] - independent[0] < mixed[1] - mixed[0] < by_people[1] - by_people[0]
    # No answers at all: no interval.
    assert all(math.isnan(v) for v in _clustered([(0, 0)] * 3))
