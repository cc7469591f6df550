"""Change-detection benchmark: how often each candidate flag method finds a real change.

Simulated organisations answer the rotating pulse for 26 fortnightly cycles: 32 teams each
(8 of 5, 10, 20 and 40 people), the three anchors every cycle and one 5-item module in
rotation, reverse-worded items answered the other way, 8 % of answers skipped and a further
5 % of AI answers "don't know", a persistent person effect (sd 0.45 per theme) under answer
noise (sd 0.7 per item, rounded to the 1–5 scale), so a person's theme score has an sd of
about 0.5 on a full module and 0.8 on the anchor alone; each team's mean also moves from
cycle to cycle (sd 0.10–0.15 per team), and 60–90 % of a team answer each cycle.

People are scored by the product's own code (pulse.reporting.compute: scores_from_answers
and theme_stats), so the rows each method sees are those the database would hold, and the
candidates marked "+between" are pulse.change_flags itself, some with a setting changed. "+same
people" is the shipped rule: it also fits how much of the person-to-person spread really moves
between cycles (much the same people answer every cycle, so their lasting views cancel out of
a change); the other "+between" rows count all of it as moving.

In every organisation half the teams of each size carry one change (downwards) in one theme,
starting between cycles 12 and 17: a step, or a drift reaching its full size over 6 cycles.
Each method decides flags for every team × theme of a cycle at once, with Benjamini–Hochberg
control across them (at 5 % unless stated) and |Δ| ≥ 0.3, at k = 5: a cycle is read only
with n ≥ 5. Measured per method: the share of changed series flagged downwards within 2
cycles of a step (the changed cycle or the next) or 8 of a drift's start; for 0.8 in a team
of 10 the median cycles to that flag and the share flagged one cycle later; flags on
series where nothing changed, per team × theme × cycle, in organisations where nothing
changes and in those where other series change; and the false discovery rate. A last line
runs the chosen method where teams' means move twice as much between cycles.

`python -m bench change_detection [--quick]`; BENCH_CHANGE_ORGS sets the organisations per
scenario (default 40, --quick 12). Seeds are fixed: two runs print the same table.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pulse.change_columns import FlagArrays, decide, flag_rows
from pulse.change_flags import CHANGE_ALPHA, MIN_BETWEEN_CYCLE_SD, WINDOW_CYCLES
from pulse.instrument import ITEM_BANK, ROTATION, THEMES, items_for_cycle
from pulse.reporting.compute import ItemTable, scores_from_answers, theme_stats
from pulse.reporting.trees import CycleTrees, TeamTree
from pulse.stats import welch_p_from_stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CYCLES = 26
TEAM_SIZES = (5, 10, 20, 40)
TEAMS_PER_SIZE = 8
CHANGED_PER_SIZE = 4
CHANGES = (0.3, 0.5, 0.8, 1.0)
K = 5
MIN_CHANGE = 0.3
PERSON_SD = 0.45
ANSWER_SD = 0.7
ITEM_OFFSET_SD = 0.2
PARTICIPATION = (0.6, 0.9)
SKIP = 0.08
DONT_KNOW = 0.05
FIRST_CHANGE = (12, 17)
DRIFT_CYCLES = 6
STEP_WINDOW = 2
DRIFT_WINDOW = 8
SEED = 20261203

ITEM_ID = {item.code: i for i, item in enumerate(ITEM_BANK)}
ITEM_THEME = np.array([THEMES.index(item.theme) for item in ITEM_BANK])
ITEM_REVERSE = np.array([item.reverse for item in ITEM_BANK])
ITEM_DK = np.array([item.allows_dont_know for item in ITEM_BANK])
ANCHORS = {item.theme: ITEM_ID[item.code] for item in ITEM_BANK if item.is_anchor}
# Whether cycle c asks theme h in full (its module) rather than by its anchor alone.
FULL = np.array([[ROTATION[c % len(ROTATION)] == h for c in range(CYCLES)] for h in THEMES])


@dataclass(frozen=True)
class Scenario:
    kind: str  # "none", "step" or "drift"
    size: float = 0.0
    wobble: tuple[float, float] = (0.10, 0.15)

    @property
    def label(self) -> str:
        return "no change" if self.kind == "none" else f"{self.kind} {self.size:.1f}"


@dataclass(frozen=True)
class Panel:
    """Stored figures of every team × theme × cycle of the simulated organisations.

    Arrays are indexed [organisation, team, theme, cycle]; n is 0 where nobody was scored.
    `anchor_*` hold the anchor item alone, every cycle. `start` is the first changed cycle of
    a series, -1 where the series never changes.
    """

    n: IntArray
    mean: FloatArray
    sd: FloatArray
    anchor_n: IntArray
    anchor_mean: FloatArray
    anchor_sd: FloatArray
    size: IntArray  # team size per team index
    start: IntArray  # [organisation, team, theme]


def _shift(scenario: Scenario, start: IntArray) -> FloatArray:
    """The change in each series' true mean per cycle: [..., cycle], downward."""
    cycles = np.arange(CYCLES)
    since = cycles - start[..., None]
    changed = (start[..., None] >= 0) & (since >= 0)
    if scenario.kind == "step":
        return np.where(changed, -scenario.size, 0.0)
    if scenario.kind == "drift":
        ramp = np.minimum((since + 1) / DRIFT_CYCLES, 1.0)
        return np.where(changed, -scenario.size * ramp, 0.0)
    return np.zeros((*start.shape, CYCLES))


def _starts(orgs: int, teams: int, changing: bool) -> IntArray:
    """Which series change and from when: half the teams of each size, one theme each."""
    start = np.full((orgs, teams, len(THEMES)), -1, dtype=np.int64)
    if not changing:
        return start
    low, high = FIRST_CHANGE
    for o in range(orgs):
        for s in range(len(TEAM_SIZES)):
            for j in range(CHANGED_PER_SIZE):
                team = s * TEAMS_PER_SIZE + j
                theme = (o + j + s) % len(THEMES)
                start[o, team, theme] = low + (o * CHANGED_PER_SIZE + j + s) % (high - low + 1)
    return start


def _stats_into(
    answers: IntArray, asked: dict[tuple[int, str], list[int]], shape: tuple[int, int, int]
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Person scores and team figures by the product's code, scattered into [team, theme, c]."""
    items = ItemTable(theme=ITEM_THEME.astype(np.int64), reverse=ITEM_REVERSE.astype(np.int64))
    scores = scores_from_answers(answers, items, asked)
    teams = shape[0]
    tree = CycleTrees.of_snapshots(TeamTree(dict.fromkeys(range(teams))), {})
    stats = theme_stats(scores, tree)
    n = np.zeros(shape, dtype=np.int64)
    mean = np.full(shape, np.nan)
    sd = np.full(shape, np.nan)
    at = (stats.group, stats.theme, stats.cycle)
    n[at], mean[at], sd[at] = stats.n, stats.mean, stats.sd
    return n, mean, sd


def simulate(scenario: Scenario, *, orgs: int, seed: int = SEED) -> Panel:
    """Answers of `orgs` organisations over CYCLES cycles, scored as the product scores them."""
    kind = ("none", "step", "drift").index(scenario.kind)
    rng = np.random.default_rng([seed, kind, round(scenario.size * 10)])
    offsets = np.random.default_rng(seed).normal(0.0, ITEM_OFFSET_SD, len(ITEM_BANK))
    per_org = np.repeat(TEAM_SIZES, TEAMS_PER_SIZE)
    teams = len(per_org)
    total = orgs * teams
    size = np.tile(per_org, orgs)
    person_team = np.repeat(np.arange(total), size)
    people = len(person_team)
    person = rng.normal(0.0, PERSON_SD, (people, len(THEMES)))
    base = np.stack(
        [rng.uniform(3.3, 4.1, total), rng.uniform(3.1, 3.9, total), rng.uniform(2.5, 3.3, total)],
        axis=1,
    )
    wobble = rng.uniform(*scenario.wobble, total)[:, None, None] * rng.normal(
        0.0, 1.0, (total, len(THEMES), CYCLES)
    )
    start = _starts(orgs, teams, scenario.kind != "none")
    true = base[:, :, None] + wobble + _shift(scenario, start.reshape(total, len(THEMES)))
    parts: list[IntArray] = []
    asked: dict[tuple[int, str], list[int]] = {}
    anchor_parts: list[IntArray] = []
    anchor_asked: dict[tuple[int, str], list[int]] = {}
    responses = 0
    for c in range(CYCLES):
        codes = items_for_cycle("rotating", c)
        item = np.array([ITEM_ID[code] for code in codes])
        for theme in THEMES:
            asked[(c, theme)] = sorted(int(i) for i in item if THEMES[ITEM_THEME[i]] == theme)
            anchor_asked[(c, theme)] = [ANCHORS[theme]]
        rate = rng.uniform(*PARTICIPATION, total)
        who = np.flatnonzero(rng.random(people) < rate[person_team])
        team = person_team[who]
        theme = ITEM_THEME[item]
        latent = (
            true[team[:, None], theme[None, :], c]
            + person[who[:, None], theme[None, :]]
            + offsets[item][None, :]
        )
        raw = np.clip(np.rint(latent + rng.normal(0.0, ANSWER_SD, latent.shape)), 1, 5)
        value = np.where(ITEM_REVERSE[item][None, :], 6 - raw, raw).astype(np.int64)
        missing = rng.random(value.shape) < SKIP
        missing |= ITEM_DK[item][None, :] & (rng.random(value.shape) < DONT_KNOW)
        value[missing] = -1
        rows = np.empty((len(who), len(item), 5), dtype=np.int64)
        rows[:, :, 0] = (responses + np.arange(len(who)))[:, None]
        rows[:, :, 1] = team[:, None]
        rows[:, :, 2] = c
        rows[:, :, 3] = item[None, :]
        rows[:, :, 4] = value
        responses += len(who)
        flat = rows.reshape(-1, 5)
        parts.append(flat)
        anchor_parts.append(flat[np.isin(flat[:, 3], list(ANCHORS.values()))])
    shape = (total, len(THEMES), CYCLES)
    n, mean, sd = _stats_into(np.concatenate(parts), asked, shape)
    an, am, asd = _stats_into(np.concatenate(anchor_parts), anchor_asked, shape)
    full = (orgs, teams, len(THEMES), CYCLES)
    return Panel(
        n.reshape(full),
        mean.reshape(full),
        sd.reshape(full),
        an.reshape(full),
        am.reshape(full),
        asd.reshape(full),
        per_org,
        start,
    )


# --- candidate methods: each gives flags (+1 up, -1 down, 0) per [org, team, theme, cycle]

Flags = npt.NDArray[np.int8]


def _rows(panel: Panel, *, anchor: bool = False) -> dict[str, Any]:
    """The panel as the stored rows pulse.change_flags reads: one per team × theme × cycle."""
    n, mean, sd = (
        (panel.anchor_n, panel.anchor_mean, panel.anchor_sd)
        if anchor
        else (panel.n, panel.mean, panel.sd)
    )
    orgs = n.shape[0]
    shape = n.shape
    org, _, theme, cycle = np.indices(shape).reshape(4, -1)
    full = FULL[theme, cycle]
    return {
        "series": np.arange(n.size, dtype=np.int64) // CYCLES,
        "position": cycle.astype(np.int64),
        # The anchor alone is the same item every cycle; a theme's item set is its module
        # or its anchor.
        "items": (theme if anchor else theme * 2 + full).astype(np.int64),
        "n": n.reshape(-1),
        "mean": mean.reshape(-1),
        "sd": sd.reshape(-1),
        "shown": n.reshape(-1) >= K,
        "tested": cycle >= 1,
        "family": (org * CYCLES + cycle).astype(np.int64),
        "shape": shape,
        "orgs": orgs,
    }


def _product(
    panel: Panel,
    *,
    window: int,
    alpha: float,
    between: bool = True,
    anchor: bool = False,
    overlap: bool = True,
) -> FlagArrays:
    rows = _rows(panel, anchor=anchor)
    return flag_rows(
        series=rows["series"],
        position=rows["position"],
        items=rows["items"],
        n=rows["n"],
        mean=rows["mean"],
        sd=rows["sd"],
        shown=rows["shown"],
        tested=rows["tested"],
        family=rows["family"],
        threshold=K,
        window=window,
        alpha=alpha,
        min_between_sd=MIN_BETWEEN_CYCLE_SD if between else 0.0,
        estimate_between=between,
        overlap=overlap,
    )


def product(
    *,
    window: int = WINDOW_CYCLES,
    alpha: float = CHANGE_ALPHA,
    anchor: bool = False,
    overlap: bool = True,
) -> Callable[[Panel], Flags]:
    """pulse.change_flags as shipped (with its settings changed for a candidate)."""

    def method(panel: Panel) -> Flags:
        found = _product(panel, window=window, alpha=alpha, anchor=anchor, overlap=overlap)
        return found.direction.reshape(panel.n.shape)

    return method


def two_segment(alpha: float) -> Callable[[Panel], Flags]:
    """(c) the last cycle and the last two cycles, each against the cycles before them (as
    pulse.change_flags tests them), the better of the two Bonferroni-corrected."""

    def method(panel: Panel) -> Flags:
        one = _product(panel, window=1, alpha=alpha, overlap=False)
        two = _product(panel, window=2, alpha=alpha, overlap=False)
        both = np.stack([one.p, two.p])
        tried = (~np.isnan(both)).sum(axis=0)
        best = np.nanargmin(np.where(np.isnan(both), np.inf, both), axis=0)
        smallest = np.where(np.isnan(both), 1.0, both).min(axis=0)
        p = np.where(tried > 0, np.minimum(1.0, tried * smallest), np.nan)
        delta = np.where(best == 0, one.delta, two.delta)
        return _decide(p, delta, _rows(panel)["family"], alpha).reshape(panel.n.shape)

    return method


def _decide(p: FloatArray, delta: FloatArray, family: IntArray, alpha: float) -> Flags:
    tested = np.flatnonzero(~np.isnan(p))
    direction = np.zeros(len(p), dtype=np.int8)
    direction[tested] = decide(p[tested], delta[tested], family[tested], alpha)
    return direction


def _pool(n: IntArray, mean: FloatArray, sd: FloatArray, chosen: BoolArray) -> tuple[Any, ...]:
    """n, mean and sd of the chosen cycles ([..., cycle] mask) of each series, pooled."""
    w = np.where(chosen, n, 0).astype(np.float64)
    total = w.sum(axis=-1)
    m = np.where(chosen, mean, 0.0)
    s = np.where(chosen & (n > 1), sd, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (w * m).sum(axis=-1) / total
        squares = (np.where(chosen, n - 1, 0) * s**2).sum(axis=-1) + (
            w * (m - pooled[..., None]) ** 2
        ).sum(axis=-1)
        return total, pooled, np.sqrt(squares / (total - 1)), chosen.sum(axis=-1)


def welch(*, consecutive: bool = False) -> Callable[[Panel], Flags]:
    """(a) today's rule when `consecutive`: the latest earlier cycle that asked the same items,
    Welch's test; otherwise the cycle against the shown cycles of the previous 12 asking the
    same items, pooled, Welch's test with no allowance for between-cycle variance."""

    def method(panel: Panel) -> Flags:
        p = np.full(panel.n.shape, np.nan)
        delta = np.full(panel.n.shape, np.nan)
        shown = panel.n >= K
        for c in range(1, CYCLES):
            p[..., c], delta[..., c] = _welch_single(panel, c, shown, consecutive)
        family = _rows(panel)["family"]
        return _decide(p.reshape(-1), delta.reshape(-1), family, 0.05).reshape(panel.n.shape)

    return method


def _welch_single(
    panel: Panel, c: int, shown: BoolArray, consecutive: bool
) -> tuple[FloatArray, FloatArray]:
    """Welch's p and Δ of cycle c against its baseline, per series (NaN: no test)."""
    cycles = np.arange(CYCLES)[None, None, None, :]
    before = (cycles < c) & (FULL[None, None, :, :] == FULL[:, c][None, None, :, None])
    if consecutive:
        # The latest earlier cycle asking the same items: where it is below k, no test.
        latest = np.where(before, cycles, -1).max(axis=-1)
        base = (cycles == latest[..., None]) & shown
    else:
        base = before & shown & (c - cycles <= 12)
    bn, bm, bs, bc = _pool(panel.n, panel.mean, panel.sd, base)
    p = np.full(bn.shape, np.nan)
    delta = np.full(bn.shape, np.nan)
    at = np.nonzero(shown[..., c] & (bc >= 1))
    if len(at[0]):
        cur = (panel.n[..., c][at], panel.mean[..., c][at], panel.sd[..., c][at])
        p[at] = welch_p_from_stats(bm[at], bs[at], bn[at], cur[1], cur[2], cur[0])
        delta[at] = cur[1] - bm[at]
    return p, delta


METHODS: dict[str, Callable[[Panel], Flags]] = {
    "a last same-item cycle, Welch (today)": welch(consecutive=True),
    "b pooled 12 cycles, Welch": welch(),
    "b pooled 12 cycles +between": product(window=1, alpha=0.05, overlap=False),
    "b anchor alone, pooled +between": product(window=1, alpha=0.05, anchor=True, overlap=False),
    "c last 1 or 2 cycles +between": two_segment(0.05),
    "c last 2 cycles +between": product(alpha=0.05, overlap=False),
    "c last 2 cycles +between, BH 10%": product(overlap=False),
    "c ... + same people, BH 5%": product(alpha=0.05),
    "c ... + same people, BH 10%": product(),
}
CHOSEN = "c ... + same people, BH 10%"


@dataclass(frozen=True)
class Outcome:
    """What one method did in one scenario."""

    detected: dict[int, float]  # team size → share of changed series flagged in time
    later: dict[int, float]  # team size → share flagged one cycle later than that
    delay: dict[int, float]  # team size → median cycles to the first right flag (detected)
    false_flags: dict[int, tuple[int, int]]  # team size → (flags, cells) on unchanged series
    false_discovery: tuple[float, int]  # (sum over cycles of false / all flags, cycles)


def measure(scenario: Scenario, panel: Panel, direction: Flags) -> Outcome:
    window = STEP_WINDOW if scenario.kind == "step" else DRIFT_WINDOW
    detected: dict[int, float] = {}
    later: dict[int, float] = {}
    delay: dict[int, float] = {}
    false_flags: dict[int, tuple[int, int]] = {}
    cycles = np.arange(CYCLES)
    for size in TEAM_SIZES:
        teams = np.flatnonzero(panel.size == size)
        start = panel.start[:, teams]
        flags = direction[:, teams]
        unchanged = start < 0
        # Every cycle after the first could carry a flag.
        false_flags[size] = (
            int((flags[unchanged][:, 1:] != 0).sum()),
            int(unchanged.sum() * (CYCLES - 1)),
        )
        if not (~unchanged).any():
            continue
        series = flags[~unchanged]
        begin = start[~unchanged]
        since = cycles[None, :] - begin[:, None]
        right = (series == -1) & (since >= 0)
        first = np.where(right.any(axis=1), np.argmax(right, axis=1) - begin, 10**6)
        detected[size] = float((first < window).mean())
        later[size] = float((first < window + 1).mean())
        found = first[first < 10**6]
        delay[size] = float(np.median(found + 1)) if len(found) else float("nan")
    # A flag is a true discovery on a changed series, from its change on, pointing down.
    begin = panel.start[..., None]
    true = (begin >= 0) & (cycles >= begin) & (direction == -1)
    flagged = direction != 0
    false = (flagged & ~true).sum(axis=(1, 2))
    everything = flagged.sum(axis=(1, 2))
    share = np.where(everything > 0, false / np.maximum(everything, 1), 0.0)
    return Outcome(detected, later, delay, false_flags, (float(share.sum()), share.size))


SCENARIOS = (
    Scenario("none"),
    *(Scenario("step", s) for s in CHANGES),
    *(Scenario("drift", s) for s in CHANGES),
)
# More between-cycle movement than the product assumes: does false-discovery control hold?
STRESS = (Scenario("none", wobble=(0.20, 0.25)), Scenario("step", 0.8, wobble=(0.20, 0.25)))


def run(
    orgs: int, scenarios: tuple[Scenario, ...], methods: dict[str, Callable[[Panel], Flags]]
) -> dict[tuple[str, str], Outcome]:
    results: dict[tuple[str, str], Outcome] = {}
    for scenario in scenarios:
        panel = simulate(scenario, orgs=orgs)
        for name, method in methods.items():
            results[(name, scenario.label)] = measure(scenario, panel, method(panel))
    return results


def _pct(value: float) -> str:
    return "   –" if np.isnan(value) else f"{100 * value:4.0f}"


def _rate(outcomes: list[Outcome]) -> float:
    flags = sum(o.false_flags[s][0] for o in outcomes for s in TEAM_SIZES)
    cells = sum(o.false_flags[s][1] for o in outcomes for s in TEAM_SIZES)
    return flags / cells


def table(results: dict[tuple[str, str], Outcome], names: list[str]) -> list[str]:
    """Per method and kind of change: detection % by team size × change size; for a change of
    0.8 in a team of 10 the median cycles to the first flag (the changed cycle counts 1) and
    the share flagged with one cycle more; false flags per team × theme × cycle where nothing
    changed (organisations with no change / with changes elsewhere); and the share of flags
    that are false, averaged over the organisations' cycles (false discovery rate)."""
    width = max(len(name) for name in names)
    head = f"{'method':<{width}} change |" + "|".join(
        f" team {s:>2}: " + " ".join(f"{c:>4.1f}" for c in CHANGES) + " " for s in TEAM_SIZES
    )
    head += "| 0.8, team 10: cycles, +1 % | false flags % | FDR %"
    lines = [head, "-" * len(head)]
    for name in names:
        none = _rate([results[(name, "no change")]])
        for kind in ("step", "drift"):
            outcomes = [results[(name, f"{kind} {c:.1f}")] for c in CHANGES]
            cells = [
                "          "
                + " ".join(_pct(o.detected.get(size, float("nan"))) for o in outcomes)
                + " "
                for size in TEAM_SIZES
            ]
            key = results[(name, f"{kind} 0.8")]
            delay, later = key.delay.get(10, float("nan")), key.later.get(10, float("nan"))
            fdr = sum(o.false_discovery[0] for o in outcomes) / sum(
                o.false_discovery[1] for o in outcomes
            )
            lines.append(
                f"{name:<{width}} {kind:<6} |"
                + "|".join(cells)
                + f"| {delay:13.1f}, {_pct(later)}  | {100 * none:4.2f} / "
                + f"{100 * _rate(outcomes):4.2f} "
                + f"| {100 * fdr:5.1f}"
            )
    return lines


def main() -> None:
    quick = "--quick" in sys.argv[1:] or os.environ.get("BENCH_CHANGE_QUICK") == "1"
    orgs = int(os.environ.get("BENCH_CHANGE_ORGS", "12" if quick else "40"))
    started = time.perf_counter()
    results = run(orgs, SCENARIOS, METHODS)
    print(
        f"{orgs} organisations per scenario × {len(TEAM_SIZES) * TEAMS_PER_SIZE} teams × "
        f"{CYCLES} cycles; detection % within {STEP_WINDOW} cycles of a step (the changed "
        f"cycle or the next), {DRIFT_WINDOW} of a drift's start; k = {K}, |Δ| ≥ {MIN_CHANGE}, "
        "Benjamini–Hochberg across each organisation's cycle at 5 % unless stated"
    )
    for line in table(results, list(METHODS)):
        print(line)
    print("chosen:")
    for line in table(results, [CHOSEN])[2:]:
        print(line)
    stress = run(orgs, STRESS, {CHOSEN: METHODS[CHOSEN]})
    outcome = stress[(CHOSEN, "step 0.8")]
    fdr = outcome.false_discovery[0] / outcome.false_discovery[1]
    print(
        "chosen, teams' means moving 0.20–0.25 between cycles (twice the usual): false flags "
        f"{100 * _rate([stress[(CHOSEN, 'no change')]]):.2f} % / "
        f"{100 * _rate([outcome]):.2f} %, FDR {100 * fdr:.1f} %, step 0.8 detected "
        + ", ".join(f"team {s}: {_pct(outcome.detected[s]).strip()} %" for s in TEAM_SIZES)
    )
    print(f"total {time.perf_counter() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
