"""Set-based aggregation: SQL GROUP BYs to the person level, then numpy over whole cycles.

Nothing here builds one ORM object per answer: the database reduces a million answers to one
row per response and theme (person scores) and one row per team, cycle and item (answer
counts); numpy then rolls those up each cycle's own team tree (pulse.reporting.trees) and
computes intervals in bulk. The scoring rules are those of pulse.scoring, and the tests check
both paths agree. How the rows reach numpy quickly is pulse.reporting.fast's business.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import stats as sps
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from pulse.answers.models import Answer, Response
from pulse.instrument import THEMES
from pulse.reporting.fast import fetch_array, group_key, marks, run_sql
from pulse.scoring import FAVOURABLE_ANSWER
from pulse.stats import clustered_wilson
from pulse.surveys.models import Item

if TYPE_CHECKING:
    from pulse.reporting.trees import CycleTrees

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
THEME_INDEX = {theme: i for i, theme in enumerate(THEMES)}


@dataclass(frozen=True)
class PersonScores:
    """One row per response and theme whose score counts (the two-thirds rule met), with how
    many of the theme's items the person answered and how many at 4–5 after reverse coding."""

    cycle: IntArray
    team: IntArray
    theme: IntArray
    score: FloatArray
    answered: IntArray
    favourable: IntArray


# Theme names are our own constants, so writing them inline cannot inject anything.
THEME_LIST = ", ".join(f"'{theme}'" for theme in THEMES)


def _cycle_filter(
    column: InstrumentedAttribute[int], cycle_ids: Collection[int] | None
) -> list[ColumnElement[bool]]:
    return [] if cycle_ids is None else [column.in_(list(cycle_ids))]


def asked_items(
    session: Session, *, cycle_ids: Collection[int] | None
) -> dict[tuple[int, str], list[int]]:
    """(cycle, theme) → the item ids the cycle asked for that theme, sorted."""
    ids = [] if cycle_ids is None else sorted(cycle_ids)
    where = "" if cycle_ids is None else f"AND ci.cycle_id IN ({marks(len(ids))})"
    rows = run_sql(
        session,
        "SELECT ci.cycle_id, i.theme, ci.item_id FROM cycle_items ci "
        f"JOIN items i ON i.id = ci.item_id WHERE i.theme IN ({THEME_LIST}) {where} "
        "ORDER BY ci.cycle_id, i.theme, ci.item_id",
        ids,
    )
    asked: dict[tuple[int, str], list[int]] = {}
    for cycle_id, theme, item_id in rows:
        asked.setdefault((cycle_id, theme), []).append(item_id)
    return asked


def person_scores(
    session: Session,
    *,
    cycle_ids: Collection[int] | None,
    asked: dict[tuple[int, str], list[int]],
) -> PersonScores:
    """Person theme scores: reverse-coded mean of answered items, when ≥ 2/3 were answered."""
    recoded = case((Item.reverse.is_(True), 6 - Answer.value), else_=Answer.value)
    theme_index = case(THEME_INDEX, value=Item.theme)
    query = (
        select(
            Response.cycle_id,
            Response.team_id,
            theme_index,
            func.coalesce(func.sum(recoded), 0),
            func.count(Answer.value),
            func.coalesce(func.sum(case((recoded >= FAVOURABLE_ANSWER, 1), else_=0)), 0),
        )
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .join(Item, Item.id == Answer.item_id)
        .where(Item.theme.in_(THEMES), *_cycle_filter(Response.cycle_id, cycle_ids))
        .group_by(Response.id, Response.cycle_id, Response.team_id, Item.theme)
    )
    return _scores_from_rows(fetch_array(session, query, 6), asked)


def _scores_from_rows(data: FloatArray, asked: dict[tuple[int, str], list[int]]) -> PersonScores:
    """Rows (cycle, team, theme, recoded sum, answered, favourable) per response × theme →
    valid scores."""
    cycle = data[:, 0].astype(np.int64)
    theme = data[:, 2].astype(np.int64)
    answered = data[:, 4]
    # The two-thirds rule needs how many of the theme's items this cycle asked.
    keys = cycle * len(THEMES) + theme
    needed_by_key = {
        c * len(THEMES) + THEME_INDEX[th]: -(-2 * len(ids) // 3) for (c, th), ids in asked.items()
    }
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    # A theme the cycle did not ask cannot be scored, whatever answers exist.
    needed = np.array([needed_by_key.get(int(k), 10**9) for k in unique_keys])[inverse]
    valid = (answered >= needed) & (answered > 0)
    score = data[valid, 3] / answered[valid]
    team = data[valid, 1].astype(np.int64)
    # Rows arrive in whatever order the database likes; summing in a fixed order makes a rerun
    # (or one cycle recomputed alone) give bit-identical figures.
    # (cycle, team, theme) packed into one key sorts in the same order as the three columns.
    cycle, theme = cycle[valid], theme[valid]
    counts = data[valid][:, 4:6].astype(np.int64)
    group = cycle * (int(team.max(initial=0)) + 1) + team
    # Equal scores are ordered by their answer counts too, so each row is fully determined.
    order = np.lexsort((counts[:, 1], counts[:, 0], score, group * len(THEMES) + theme))
    counts = counts[order]
    return PersonScores(
        cycle[order], team[order], theme[order], score[order], counts[:, 0], counts[:, 1]
    )


@dataclass(frozen=True)
class ThemeStats:
    """Theme aggregates as columns, one entry per group × cycle × theme with n ≥ 1.

    The favourable share counts answers, not people (INSTRUMENT.md, Scoring 4): favourable_n
    answers at 4–5 after reverse coding out of answers_n, from the people counted in n. The
    sums over people of favourable², favourable × answered and answered² carry what the
    interval needs (pulse.stats.clustered_wilson) and subtract like counts do.
    """

    group: IntArray
    cycle: IntArray
    theme: IntArray
    n: IntArray
    mean: FloatArray
    sd: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    favourable_n: IntArray
    favourable_pct: FloatArray
    fav_low: FloatArray
    fav_high: FloatArray
    answers_n: IntArray
    favourable_sq: IntArray
    favourable_cross: IntArray
    answers_sq: IntArray

    def __len__(self) -> int:
        return len(self.group)


def theme_stats(scores: PersonScores, tree: CycleTrees) -> ThemeStats:
    """Roll person scores up each cycle's tree; a group's figure covers its whole subtree."""
    rows, groups = tree.expand(scores.team, scores.cycle)
    score = scores.score[rows]
    if len(score) == 0:
        e_i, e_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return ThemeStats(
            e_i, e_i, e_i, e_i, e_f, e_f, e_f, e_f, e_i, e_f, e_f, e_f, e_i, e_i, e_i, e_i
        )
    _, inverse, (group, cycle, theme) = group_key(groups, scores.cycle[rows], scores.theme[rows])
    n = np.bincount(inverse).astype(np.int64)
    mean = np.bincount(inverse, weights=score) / n
    # Two passes (deviations from the group mean) keep the variance exact for equal scores.
    deviation = score - mean[inverse]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n > 1, np.bincount(inverse, weights=deviation**2) / (n - 1), np.nan)
        sd = np.sqrt(var)
        half = sps.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    half = np.where(sd == 0.0, 0.0, half)
    y = scores.favourable[rows].astype(np.float64)
    m = scores.answered[rows].astype(np.float64)

    def total(weights: FloatArray) -> IntArray:
        return np.rint(np.bincount(inverse, weights=weights)).astype(np.int64)

    favourable, answers = total(y), total(m)
    sums = (total(y * y), total(y * m), total(m * m))
    fav_low, fav_high = clustered_wilson(favourable, answers, *sums, n)
    return ThemeStats(
        group=group,
        cycle=cycle,
        theme=theme,
        n=n,
        mean=mean,
        sd=sd,
        ci_low=mean - half,
        ci_high=mean + half,
        favourable_n=favourable,
        favourable_pct=100.0 * favourable / answers,
        fav_low=100.0 * fav_low,
        fav_high=100.0 * fav_high,
        answers_n=answers,
        favourable_sq=sums[0],
        favourable_cross=sums[1],
        answers_sq=sums[2],
    )


@dataclass(frozen=True)
class ItemStats:
    """Answer counts per group × cycle × item: counts[:, v-1] is how many answered v."""

    group: IntArray
    cycle: IntArray
    item: IntArray
    counts: IntArray
    total: IntArray

    @property
    def n(self) -> IntArray:
        """Answers that carry a value ("don't know" and skipped are not counted)."""
        return np.asarray(self.counts.sum(axis=1), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.group)


def item_stats(
    session: Session, *, cycle_ids: Collection[int] | None, tree: CycleTrees
) -> ItemStats:
    """Raw (not reverse-coded) answer distributions per item, rolled up the tree."""
    buckets = [func.sum(case((Answer.value == v, 1), else_=0)) for v in range(1, 6)]
    query = (
        select(
            Response.team_id,
            Response.cycle_id,
            Answer.item_id,
            *buckets,
            func.coalesce(func.sum(Answer.value), 0),
        )
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .where(*_cycle_filter(Response.cycle_id, cycle_ids))
        .group_by(Response.team_id, Response.cycle_id, Answer.item_id)
    )
    return _roll_items(fetch_array(session, query, 9).astype(np.int64), tree)


def _roll_items(data: IntArray, tree: CycleTrees) -> ItemStats:
    """Rows (team, cycle, item, count of 1..5, total) rolled up the tree."""
    rows, groups = tree.expand(data[:, 0], data[:, 1])
    if len(rows) == 0:
        e = np.empty(0, np.int64)
        return ItemStats(e, e, e, np.empty((0, 5), np.int64), e)
    _, inverse, (group, cycle, item) = group_key(groups, data[rows, 1], data[rows, 2])
    counts = np.stack(
        [np.bincount(inverse, weights=data[rows, 3 + v]) for v in range(5)], axis=1
    ).astype(np.int64)
    total = np.bincount(inverse, weights=data[rows, 8]).astype(np.int64)
    return ItemStats(group, cycle, item, counts, total)


@dataclass(frozen=True)
class ParticipationStats:
    """Invited and answered invitations per group × cycle, rolled up the tree."""

    group: IntArray
    cycle: IntArray
    invited: IntArray
    responded: IntArray


def participation_stats(
    session: Session, *, cycle_ids: Collection[int] | None, tree: CycleTrees
) -> ParticipationStats:
    """Counts only: who answered is never read, only how many."""
    ids = [] if cycle_ids is None else sorted(cycle_ids)
    where = "" if cycle_ids is None else f"WHERE cycle_id IN ({marks(len(ids))})"
    found = run_sql(
        session,
        "SELECT team_id, cycle_id, COUNT(*), SUM(CASE WHEN answered THEN 1 ELSE 0 END) "
        f"FROM invitations {where} GROUP BY team_id, cycle_id",
        ids,
    )
    data = np.array(found, dtype=np.int64).reshape(-1, 4)
    rows, groups = tree.expand(data[:, 0], data[:, 1])
    if len(rows) == 0:
        e = np.empty(0, np.int64)
        return ParticipationStats(e, e, e, e)
    _, inverse, (group, cycle) = group_key(groups, data[rows, 1])
    invited = np.bincount(inverse, weights=data[rows, 2]).astype(np.int64)
    responded = np.bincount(inverse, weights=data[rows, 3]).astype(np.int64)
    return ParticipationStats(group, cycle, invited, responded)


@dataclass(frozen=True)
class ItemTable:
    """Theme index (-1: no theme score) and reverse flag, indexed by item id."""

    theme: IntArray
    reverse: IntArray

    @classmethod
    def load(cls, session: Session) -> ItemTable:
        """Every item version in one small query."""
        rows = run_sql(session, "SELECT id, theme, reverse FROM items")
        size = max((item_id for item_id, _, _ in rows), default=0) + 1
        theme = np.full(size, -1, dtype=np.int64)
        reverse = np.zeros(size, dtype=np.int64)
        for item_id, name, is_reverse in rows:
            theme[item_id] = THEME_INDEX.get(name, -1)
            reverse[item_id] = 1 if is_reverse else 0
        return cls(theme, reverse)


def scores_from_answers(
    answers: IntArray, items: ItemTable, asked: dict[tuple[int, str], list[int]]
) -> PersonScores:
    """person_scores computed from fetched answer rows instead of a GROUP BY."""
    item = answers[:, 3]
    theme = items.theme[item]
    rows = answers
    if not (theme >= 0).all():
        # Only themed items count towards a score (not a copy of every answer when all are).
        themed = np.flatnonzero(theme >= 0)
        rows, theme, item = answers[themed], theme[themed], item[themed]
    value = rows[:, 4]
    given = value >= 0
    recoded = np.where(items.reverse[item] == 1, 6 - value, value)
    data = np.empty((0, 6), dtype=np.float64)
    if len(rows):
        # Responses are numbered densely from 0, so response × theme is a direct bin index.
        size = (int(rows[:, 0].max()) + 1) * len(THEMES)
        key = rows[:, 0] * len(THEMES) + theme
        answered = np.bincount(key, weights=given, minlength=size)
        total = np.bincount(key, weights=np.where(given, recoded, 0), minlength=size)
        favourable = np.bincount(
            key, weights=given & (recoded >= FAVOURABLE_ANSWER), minlength=size
        )
        scored = np.nonzero(answered > 0)[0]
        # Any row of the response names its team and cycle.
        first = np.empty(size, dtype=np.int64)
        first[key] = np.arange(len(key))
        at = first[scored]
        data = np.stack(
            [
                rows[at, 2].astype(np.float64),
                rows[at, 1].astype(np.float64),
                (scored % len(THEMES)).astype(np.float64),
                total[scored],
                answered[scored],
                favourable[scored],
            ],
            axis=1,
        )
    return _scores_from_rows(data, asked)


def items_from_answers(answers: IntArray, tree: CycleTrees) -> ItemStats:
    """item_stats computed from fetched answer rows instead of a GROUP BY."""
    if len(answers) == 0:
        return _roll_items(np.empty((0, 9), dtype=np.int64), tree)
    first, inverse, (team, cycle, item) = group_key(answers[:, 1], answers[:, 2], answers[:, 3])
    value = answers[:, 4]
    bucket = (value >= 1) & (value <= 5)
    size = len(first)
    counts = np.bincount(inverse[bucket] * 5 + (value[bucket] - 1), minlength=size * 5).reshape(
        size, 5
    )
    total = np.bincount(inverse, weights=np.where(value >= 0, value, 0), minlength=size)
    data = np.column_stack([team, cycle, item, counts, total.astype(np.int64)]).astype(np.int64)
    return _roll_items(data, tree)
