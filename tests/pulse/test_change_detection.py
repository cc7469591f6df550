"""Change flags (pulse.change_flags, docs/statistics.md): the goals measured by simulation, the
rule by hand and against its column form, what a stored flag explains, and that no flag sits
on a hidden figure or reads one."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bench.bench_change_detection import CHOSEN, METHODS, Scenario, measure, simulate
from pulse import change_flags as cf
from pulse.change_columns import decide, flag_rows
from pulse.change_flags import CycleFigures, SeriesTest, change_flags
from pulse.confidentiality import round_mean
from pulse.demo import seed as seed_demo
from pulse.instrument import ITEMS_BY_CODE
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.models import SuppressionStamp, ThemeAggregate
from pulse.reporting.queries import export_rows, theme_rows
from pulse.reporting.stamps import stamp_cycles
from pulse.reporting.trees import CycleTrees
from pulse.stats import benjamini_hochberg
from pulse.surveys.models import Cycle, Schedule
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree
from tests.support.answers import set_thresholds

K = 5

# --- the goals, by simulation (a smaller run of `python -m bench change_detection`) --------


def test_simulated_changes_are_found_and_noise_is_not() -> None:
    """A drop of 0.8 in teams of 10 is flagged within 2 cycles; without a change flags stay
    far below 5 % of team × theme × cycles; false discoveries stay under control."""
    method = METHODS[CHOSEN]
    step = Scenario("step", 0.8)
    panel = simulate(step, orgs=16, seed=14)
    found = measure(step, panel, method(panel))
    nothing = Scenario("none")
    quiet = simulate(nothing, orgs=16, seed=14)
    calm = measure(nothing, quiet, method(quiet))
    # The goal: 80 %. The full benchmark measures 84 % (±3) for this rule; these seeds give
    # 91 % on 64 changed teams of 10.
    assert found.detected[10] >= 0.80
    assert found.detected[20] >= 0.95 and found.detected[40] >= 0.95
    for outcome in (found, calm):
        flags = sum(f for f, _ in outcome.false_flags.values())
        cells = sum(c for _, c in outcome.false_flags.values())
        assert flags / cells <= 0.05
        assert flags / cells <= 0.005
    fdr = found.false_discovery[0] / found.false_discovery[1]
    assert fdr <= cf.CHANGE_ALPHA


# --- the rule by hand ----------------------------------------------------------------------


def _cycles(
    means: list[float], *, n: int = 8, sd: float = 0.5, items: str = "all"
) -> list[CycleFigures]:
    return [CycleFigures(i, n, m, sd, items) for i, m in enumerate(means)]


def test_the_last_two_cycles_against_the_ten_before_by_hand() -> None:
    figures = _cycles([4.0] * 10 + [3.0, 3.0])
    (flag,) = change_flags([SeriesTest("t", "safety", figures[-1], figures[:-1], K)])
    # Window: cycles 10 and 11 (16 people at 3.0); baseline: cycles 0-9 (80 people at 4.0).
    assert (flag.window_n, flag.window_cycles) == (16, 2)
    assert (flag.baseline_n, flag.baseline_cycles, flag.baseline_mean) == (80, 10, 4.0)
    assert flag.compared == tuple(range(11))
    assert flag.delta == pytest.approx(-1.0)
    # Within-cycle variance 0.25 on 12 × 7 degrees of freedom; the between-cycle variance
    # is the floor 0.1² (the baseline's means do not vary), over 2 and 10 cycles.
    variance = 0.25 * (1 / 16 + 1 / 80) + 0.01 * (1 / 2 + 1 / 10)
    t = -1.0 / math.sqrt(variance)
    assert flag.p == pytest.approx(2 * sps.t.sf(abs(t), 84))
    half = sps.t.ppf(0.975, 84) * math.sqrt(variance)
    assert (flag.delta_low, flag.delta_high) == pytest.approx((-1.0 - half, -1.0 + half))
    assert flag.direction == "down"


def test_a_baseline_reaches_twelve_cycles_back_and_compares_like_with_like() -> None:
    # Anchor-only cycles (a) and full modules (f) alternate as the rotation does: a, a, f.
    items = ["f" if i % 3 == 0 else "a" for i in range(20)]
    figures = [CycleFigures(i, 8, 4.0 if i < 18 else 3.0, 0.6, items[i]) for i in range(20)]
    (flag,) = change_flags([SeriesTest("t", "safety", figures[-1], figures[:-1], K)])
    # Cycle 19 (a) and 18 (f): each against the same items among cycles 6-17.
    assert flag.compared == tuple(range(6, 19))
    assert flag.window_cycles == 2 and flag.baseline_cycles == 12
    assert flag.delta == pytest.approx(-1.0) and flag.direction == "down"


def test_a_small_consistent_shift_is_not_a_change() -> None:
    # A tiny, steady shift: significant, but |Δ| = 0.2 is below the 0.3 a flag needs.
    figures = _cycles([3.0] * 10 + [3.2, 3.2], n=200, sd=0.3)
    (flag,) = change_flags([SeriesTest("t", "learning", figures[-1], figures[:-1], K)])
    assert flag.p is not None and flag.p < 0.05 and not flag.flagged
    assert flag.delta == pytest.approx(0.2)


def test_early_in_a_schedule_the_earlier_cycle_is_the_baseline() -> None:
    figures = _cycles([4.0, 3.0])
    (flag,) = change_flags([SeriesTest("t", "ai", figures[1], figures[:1], K)])
    assert (flag.window_cycles, flag.baseline_cycles, flag.compared) == (1, 1, (0,))
    nothing = change_flags([SeriesTest("t", "ai", figures[0], [], K)])[0]
    assert nothing.p is None and not nothing.flagged


@pytest.mark.parametrize("n", [K - 1, K])
def test_a_cycle_below_k_is_never_read_nor_flagged(n: int) -> None:
    figures = _cycles([4.0] * 6 + [3.0, 3.0])
    low = CycleFigures(2, n, 1.0, 0.5, "all")
    earlier = [*figures[:2], low, *figures[3:7]]
    (flag,) = change_flags([SeriesTest("t", "safety", figures[7], earlier, K)])
    assert (2 in flag.compared) == (n >= K)
    hidden = CycleFigures(2, 8, 1.0, 0.5, "all", shown=False)
    (flag,) = change_flags(
        [SeriesTest("t", "safety", figures[7], [*figures[:2], hidden, *figures[3:7]], K)]
    )
    assert 2 not in flag.compared
    current = CycleFigures(7, n, 3.0, 0.5, "all")
    (flag,) = change_flags([SeriesTest("t", "safety", current, figures[:7], K)])
    assert (flag.p is not None) == (n >= K)
    (flag,) = change_flags(
        [SeriesTest("t", "safety", CycleFigures(7, 8, 3.0, 0.5, "all", False), figures[:7], K)]
    )
    assert flag.p is None and flag.delta is None and not flag.flagged
    with pytest.raises(ValueError):
        change_flags([SeriesTest("t", "safety", figures[7], figures[:7], 2)])


def test_false_discovery_control_across_the_cycle() -> None:
    rng = np.random.default_rng(7)
    tests = []
    for i in range(40):
        # Cycle means vary as 9 people (sd 0.7) and a between-cycle sd of 0.1 make them.
        wobble = math.sqrt(0.49 / 9 + 0.01)
        means = list(4.0 + rng.normal(0, wobble, 10))
        shift = -1.2 if i < 4 else 0.0
        means += [m + shift for m in 4.0 + rng.normal(0, wobble, 2)]
        figures = _cycles(means, n=9, sd=0.7)
        tests.append(SeriesTest(i, "safety", figures[-1], figures[:-1], K))
    flags = change_flags(tests)
    raw = [f.p for f in flags]
    assert all(p is not None for p in raw)
    rejected = benjamini_hochberg([p or 0.0 for p in raw], cf.CHANGE_ALPHA)
    for flag, reject in zip(flags, rejected, strict=True):
        assert flag.flagged == (reject and abs(flag.delta or 0.0) >= cf.MIN_CHANGE)
    assert sum(f.flagged for f in flags[:4]) >= 3 and not any(f.flagged for f in flags[4:])
    # Some test passes on its own yet not once the cycle's family is controlled.
    assert any((p or 1.0) < cf.CHANGE_ALPHA and not r for p, r in zip(raw, rejected, strict=True))


def test_the_variance_model_fits_how_much_of_the_spread_moves() -> None:
    """Baselines whose cycle means spread by 0.7 of what sd²/n predicts, plus 0.02 of their
    own: the fit finds both; with too few baselines the whole sampling error counts."""
    x = [0.02 * i for i in range(1, 11)]
    y = [0.7 * v + 0.02 for v in x]

    def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
        moving, between = cf.cycle_variance(
            len(xs),
            sum(xs),
            sum(ys),
            sum(v * v for v in xs),
            sum(a * b for a, b in zip(xs, ys, strict=True)),
        )
        return float(moving), float(between)

    assert fit(x, y) == pytest.approx((0.7, 0.02))
    # Seven baselines are too few to fit: all of the sampling error moves, and the rest of
    # the spread is the between-cycle variance.
    assert fit(x[:7], [v + 0.03 for v in x[:7]]) == pytest.approx((1.0, 0.03))
    # Never more than half of the sampling error cancels, and never below the floor.
    assert fit(x, [0.1 * v for v in x]) == pytest.approx(
        (cf.MIN_MOVING, cf.MIN_BETWEEN_CYCLE_SD**2)
    )
    # More spread than sampling predicts is never read as less than all of it moving.
    assert fit(x, [2.0 * v for v in x])[0] == 1.0


# --- the same rule over columns ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_columns_agree_with_the_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for series in range(60):
        shift = rng.choice([0.0, -1.0, 1.2]) if series % 3 == 0 else 0.0
        start = int(rng.integers(8, 16))
        for position in range(18):
            if rng.random() < 0.05:
                continue  # not surveyed
            n = int(rng.integers(2, 14))
            full = (position + series) % 3 == 0
            rows.append(
                {
                    "series": series,
                    "position": position,
                    "items": (series % 2) * 2 + int(full),
                    "n": n,
                    "mean": float(3.5 + rng.normal(0, 0.15) + (shift if position >= start else 0)),
                    "sd": float(rng.choice([0.0, 0.5, 0.8, 1.1])) if n > 1 else float("nan"),
                    "shown": bool(rng.random() > 0.08),
                    "family": position,
                }
            )
    columns = {name: np.array([r[name] for r in rows]) for name in rows[0]}
    got = flag_rows(
        series=columns["series"],
        position=columns["position"],
        items=columns["items"],
        n=columns["n"],
        mean=columns["mean"],
        sd=columns["sd"],
        shown=columns["shown"],
        tested=columns["position"] >= 12,
        family=columns["family"],
        threshold=K,
    )

    def figures(row: dict[str, Any]) -> CycleFigures:
        return CycleFigures(
            row["position"], row["n"], row["mean"], row["sd"], str(row["items"]), row["shown"]
        )

    flagged = tested = 0
    for family in range(12, 18):
        members = [i for i, r in enumerate(rows) if r["position"] == family]
        tests = [
            SeriesTest(
                rows[i]["series"],
                "theme",
                figures(rows[i]),
                [
                    figures(r)
                    for r in rows
                    if r["series"] == rows[i]["series"] and r["position"] < family
                ],
                K,
            )
            for i in members
        ]
        for i, flag in zip(members, change_flags(tests), strict=True):
            assert got.direction[i] == {"up": 1, "down": -1, None: 0}[flag.direction]
            if flag.p is None:
                assert math.isnan(got.p[i]) and got.baseline_n[i] == -1
                continue
            tested += 1
            flagged += flag.flagged
            assert got.p[i] == pytest.approx(flag.p, rel=1e-9, abs=1e-300)
            for name in ("delta", "delta_low", "delta_high", "baseline_mean"):
                assert getattr(got, name)[i] == pytest.approx(getattr(flag, name), abs=1e-12)
            for name in ("window_n", "window_cycles", "baseline_n", "baseline_cycles"):
                assert getattr(got, name)[i] == getattr(flag, name)
            read = got.compared_row[got.compared_test == i]
            assert tuple(sorted(columns["position"][read].tolist())) == flag.compared
    assert tested > 100 and flagged > 0


def test_column_decisions_are_benjamini_hochberg_per_family() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        size = int(rng.integers(1, 80))
        p = np.round(np.where(rng.random(size) < 0.3, rng.random(size) * 0.01, rng.random(size)), 3)
        family = rng.integers(0, 4, size)
        got = decide(p, np.ones(size), family) != 0
        for value in np.unique(family):
            members = np.flatnonzero(family == value)
            expected = benjamini_hochberg(p[members].tolist(), cf.CHANGE_ALPHA)
            assert got[members].tolist() == expected


# --- stored flags: what they explain, and what they never read -----------------------------


def _schedule(session: Session, cycles: int) -> list[Cycle]:
    schedule = Schedule(name="s", program="full", start_date=date(2026, 1, 5))
    session.add(schedule)
    session.flush()
    return [make_cycle(session, sequence=s, schedule=schedule.id) for s in range(cycles)]


def _answers(session: Session, cycle: Cycle, team: Team, count: int, level: int) -> None:
    """`count` people answer every item around `level` (level or level + 1), reverse items
    the other way, so each person's theme score is level or level + 1 and so on."""
    rng = random.Random(f"{cycle.id}-{team.id}-{count}")
    for _ in range(count):
        values = {ci.item.code: level + rng.randint(0, 1) for ci in cycle.items}
        answer(
            session,
            cycle,
            team,
            {c: (6 - v if ITEMS_BY_CODE[c].reverse else v) for c, v in values.items()},
        )


def _stored(session: Session, team: Team, cycle: Cycle) -> ThemeAggregate:
    row = session.get(ThemeAggregate, (team.id, cycle.id, "safety"))
    assert row is not None
    return row


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_stored_flag_says_what_it_was_compared_with(session: Session) -> None:
    teams = make_tree(session, {"Drop": ("D", 0), "Flat": ("D", 0)})
    cycles = _schedule(session, 7)
    for index, cycle in enumerate(cycles):
        _answers(session, cycle, teams["Drop"], 8, 4 if index < 5 else 2)
        _answers(session, cycle, teams["Flat"], 7, 3)
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    flagged = _stored(session, teams["Drop"], cycles[6])
    baseline = [_stored(session, teams["Drop"], c) for c in cycles[:5]]
    assert flagged.change == "down"
    assert flagged.window_n == 16 and flagged.window_cycles == 2
    assert flagged.baseline_n == sum(b.n for b in baseline) == 40
    assert flagged.baseline_cycles == 5
    assert flagged.baseline_mean == pytest.approx(sum(b.n * (b.mean or 0) for b in baseline) / 40)
    assert flagged.compared_cycles == ",".join(str(c.id) for c in cycles[:6])
    assert flagged.delta is not None and flagged.delta_low is not None
    assert flagged.delta_low < flagged.delta < (flagged.delta_high or 0) < 0
    steady = _stored(session, teams["Flat"], cycles[6])
    assert steady.change is None and steady.baseline_n == 35 and steady.change_p is not None
    rows = theme_rows(session, team_ids={teams["Drop"].id}, threshold=K, cycle_ids=[cycles[6].id])
    assert {r.change for r in rows} == {"down"}
    (shown,) = [r for r in rows if r.theme == "safety"]
    assert (shown.window_n, shown.window_cycles, shown.baseline_n) == (16, 2, 40)
    assert shown.baseline_cycles == 5
    assert shown.baseline_mean == round_mean(flagged.baseline_mean or 0)
    assert shown.delta == round_mean(flagged.delta)
    assert (shown.delta_low, shown.delta_high) == (
        round_mean(flagged.delta_low),
        round_mean(flagged.delta_high or 0),
    )
    exported = export_rows(session, team_ids={teams["Drop"].id}, threshold=K)
    last = [r for r in exported if r["cycle_id"] == cycles[6].id and r["theme"] == "safety"]
    assert last[0]["baseline"] == {"cycles": 5, "n": 40, "mean": shown.baseline_mean}
    assert last[0]["window"] == {"cycles": 2, "n": 16}
    first = [r for r in exported if r["cycle_id"] == cycles[0].id]
    assert first and all(r["baseline"] is None and r["delta"] is None for r in first)
    # The first cycle has nothing before it: no test, nothing stored.
    first = _stored(session, teams["Drop"], cycles[0])
    assert first.change_p is None and first.baseline_n is None and first.compared_cycles is None


@pytest.mark.parametrize("n", [K - 1, K])
def test_no_flag_reads_a_cycle_below_k_or_sits_on_one(session: Session, n: int) -> None:
    teams = make_tree(session, {"Drop": ("D", 0), "Flat": ("D", 0), "Low": ("E", 0)})
    cycles = _schedule(session, 7)
    for index, cycle in enumerate(cycles):
        # Cycle 2 of Drop has n respondents; Low drops in cycle 6 with n respondents.
        _answers(session, cycle, teams["Drop"], n if index == 2 else 8, 4 if index < 5 else 2)
        _answers(session, cycle, teams["Flat"], 7, 3)
        _answers(session, cycle, teams["Low"], n if index == 6 else 8, 4 if index < 6 else 1)
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    flagged = _stored(session, teams["Drop"], cycles[6])
    assert flagged.change == "down"
    assert (str(cycles[2].id) in (flagged.compared_cycles or "").split(",")) == (n >= K)
    assert flagged.baseline_n == 32 + (n if n >= K else 0)
    low = _stored(session, teams["Low"], cycles[6])
    if n < K:
        assert low.suppressed and low.change is None and low.change_p is None
        assert low.baseline_n is None and low.delta_low is None
    else:
        assert low.change == "down"
    for row in export_rows(session, team_ids={t.id for t in teams.values()}, threshold=K):
        if row["suppressed"]:
            assert row["change"] is None and row["baseline"] is None and row["delta"] is None


def test_no_flag_reads_a_cycle_hidden_to_protect_another(session: Session) -> None:
    # In cycle 2 two people of Small answer: Small is hidden, and Alone with it, since the
    # department less Alone would give Small away.
    teams = make_tree(session, {"Alone": ("E", 0), "Small": ("E", 0), "Other": ("F", 0)})
    cycles = _schedule(session, 7)
    for index, cycle in enumerate(cycles):
        _answers(session, cycle, teams["Alone"], 8, 4 if index < 5 else 2)
        _answers(session, cycle, teams["Other"], 8, 3)
        if index == 2:
            _answers(session, cycle, teams["Small"], 2, 3)
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    hidden = _stored(session, teams["Alone"], cycles[2])
    assert hidden.suppressed and hidden.n >= K
    flagged = _stored(session, teams["Alone"], cycles[6])
    assert flagged.change == "down"
    assert str(cycles[2].id) not in (flagged.compared_cycles or "").split(",")
    assert flagged.baseline_cycles == 4 and flagged.baseline_n == 32


def _drop_after_six(
    session: Session, second: int = 6, drop: int = 2
) -> tuple[dict[str, Team], list[Cycle]]:
    """Drop goes from 4 to `drop` at cycle 5, with `second` people in cycle 1 and 9 in the
    others; Flat stays at 3 with 9. Aggregated at k."""
    teams = make_tree(session, {"Drop": ("D", 0), "Flat": ("D", 0)})
    cycles = _schedule(session, 7)
    for index, cycle in enumerate(cycles):
        people = second if index == 1 else 9
        _answers(session, cycle, teams["Drop"], people, 4 if index < 5 else drop)
        _answers(session, cycle, teams["Flat"], 9, 3)
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    return teams, cycles


def test_a_flag_is_not_shown_once_a_cycle_it_read_is_hidden(session: Session) -> None:
    teams, cycles = _drop_after_six(session)
    last = [cycles[6].id]
    rows = theme_rows(session, team_ids={teams["Drop"].id}, threshold=K, cycle_ids=last)
    assert {r.change for r in rows} == {"down"}
    # Raised to 7, cycle 1 (6 people) is hidden while cycle 6 (9 people) is still shown.
    set_thresholds(session, scores=7)
    session.commit()
    rows = theme_rows(session, team_ids={teams["Drop"].id}, threshold=7, cycle_ids=last)
    assert rows and all(not r.suppressed and r.change is None for r in rows)
    # A flag stored without what it read (before flags kept it) is not shown either.
    for row in session.scalars(select(ThemeAggregate).where(ThemeAggregate.change.is_not(None))):
        row.compared_cycles = None
    session.commit()
    rows = theme_rows(session, team_ids={teams["Drop"].id}, threshold=K, cycle_ids=last)
    assert {r.change for r in rows} == {None}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_flag_is_not_shown_once_a_stamped_cycle_it_read_is_hidden(session: Session) -> None:
    teams, cycles = _drop_after_six(session, second=6)
    ids, last = [c.id for c in cycles], [cycles[6].id]
    drop = {teams["Drop"].id}
    # Stamped at k: every earlier figure the test read is shown, so is the flag.
    assert {r.change for r in theme_rows(session, team_ids=drop, threshold=K, cycle_ids=last)} == {
        "down"
    }
    # Raised to 7 and stamped again (as the sweep does, the tests left as they were): cycle 1
    # (6 people) is hidden by its stored flags while cycle 6 (9 people) is still shown.
    set_thresholds(session, scores=7)
    stamp_cycles(session, cycle_ids=ids, ks=dict.fromkeys(ids, 7), trees=CycleTrees.load(session))
    session.commit()
    stamped = theme_rows(session, team_ids=drop, threshold=7, cycle_ids=last)
    assert stamped and all(not r.suppressed and r.change is None for r in stamped)
    # Decided from the earlier cycles' rows and pattern instead (no stamps): the same rows.
    session.execute(delete(SuppressionStamp).where(SuppressionStamp.cycle_id.in_(ids[:6])))
    session.commit()
    assert theme_rows(session, team_ids=drop, threshold=7, cycle_ids=last) == stamped


def test_a_flag_stays_while_a_stamped_cycle_it_read_has_k(session: Session) -> None:
    # The boundary beside the test above: raised to 7, cycle 1's 7 people (n = k) stay shown.
    teams, cycles = _drop_after_six(session, second=7)
    ids, last = [c.id for c in cycles], [cycles[6].id]
    set_thresholds(session, scores=7)
    stamp_cycles(session, cycle_ids=ids, ks=dict.fromkeys(ids, 7), trees=CycleTrees.load(session))
    session.commit()
    rows = theme_rows(session, team_ids={teams["Drop"].id}, threshold=7, cycle_ids=last)
    assert {r.change for r in rows} == {"down"}
    assert all(r.baseline_n is not None for r in rows)


def test_a_report_of_flags_only_explains_the_flags_alone(session: Session) -> None:
    teams, cycles = _drop_after_six(session, second=9)
    asked = {teams["Drop"].id, teams["Flat"].id}
    last = [cycles[6].id]
    full = theme_rows(session, team_ids=asked, threshold=K, cycle_ids=last)
    flags = theme_rows(session, team_ids=asked, threshold=K, cycle_ids=last, flags_only=True)
    compared = ("delta", "delta_low", "delta_high", "window_n", "baseline_n", "baseline_mean")
    # Flat was tested too (its comparison is in the full report), but raised no flag.
    assert any(r.team == "Flat" and r.baseline_n for r in full)
    assert {r.change for r in full if r.team == "Drop"} == {"down"}
    for whole, brief in zip(full, flags, strict=True):
        if whole.change is not None:
            assert brief == whole
        else:
            assert all(getattr(brief, name) is None for name in compared)
            blanked = {name: None for name in (*compared, "window_cycles", "baseline_cycles")}
            assert brief == replace(whole, **blanked)


# --- the demo's stories ----------------------------------------------------------------------


def test_the_demo_flags_its_stories(session: Session) -> None:
    """Payments' safety falls after the reorganisation (cycle 13) and Data's AI concern rises
    at cycle 8 and falls back from cycle 16: both are flagged, and hardly anything else."""
    seed_demo(session, now=datetime(2026, 12, 2, 12, tzinfo=UTC))
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    names = {team.id: team.name for team in session.scalars(select(Team))}
    sequence = {c.id: c.sequence for c in session.scalars(select(Cycle))}
    flags = {
        (names[r.team_id], r.theme, sequence[r.cycle_id], r.change)
        for r in session.scalars(select(ThemeAggregate).where(ThemeAggregate.change.is_not(None)))
    }
    payments = {(s, d) for team, theme, s, d in flags if (team, theme) == ("Payments", "safety")}
    data = {(s, d) for team, theme, s, d in flags if (team, theme) == ("Data", "ai")}
    # Each within two cycles of its step; the training's easing is a drift over cycles 16-18.
    assert any(13 <= s <= 14 and d == "down" for s, d in payments), payments
    assert any(8 <= s <= 9 and d == "up" for s, d in data), data
    assert any(16 <= s <= 21 and d == "down" for s, d in data), data
    stories = {("Payments", "safety"), ("Data", "ai"), ("Customer Support", "learning")}
    stories |= {("Customer Support", "ai")}
    others = [f for f in flags if (f[0], f[1]) not in stories]
    assert len(others) <= 2, others
