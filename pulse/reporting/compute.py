"""Set-based aggregation: SQL GROUP BYs to the person level, then numpy over whole cycles.

Nothing here builds one ORM object per answer: the database reduces a million answers to one
row per response and theme (person scores) and one row per team, cycle and item (answer
counts); numpy then rolls those up the team tree and computes intervals in bulk. The scoring
rules are those of pulse.scoring, and the tests check both paths agree.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps
from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from pulse.answers.models import Answer, Response
from pulse.delivery.models import Invitation
from pulse.instrument import THEMES
from pulse.scoring import FAVOURABLE_CUTOFF
from pulse.stats import wilson_interval
from pulse.surveys.models import CycleItem, Item
from pulse.teams.models import Team

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
THEME_INDEX = {theme: i for i, theme in enumerate(THEMES)}


@dataclass(frozen=True)
class TeamTree:
    """Each team's chain of groups it reports into: itself, its parent, … up to the top."""

    parents: dict[int, int | None]

    @classmethod
    def load(cls, session: Session) -> TeamTree:
        """The whole tree in one query."""
        return cls(
            {team: parent for team, parent in session.execute(select(Team.id, Team.parent_id))}
        )

    def chain(self, team_id: int) -> list[int]:
        """The team and its ancestors, nearest first."""
        chain = [team_id]
        current = self.parents.get(team_id)
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parents.get(current)
        return chain

    def expand(self, teams: IntArray) -> tuple[IntArray, IntArray]:
        """For rows filed under `teams`, (row index, group) pairs for every group they count in."""
        unique, inverse = np.unique(teams, return_inverse=True)
        chains = [self.chain(int(t)) for t in unique]
        depth = max((len(c) for c in chains), default=0)
        table = np.full((len(unique), depth), -1, dtype=np.int64)
        for i, chain in enumerate(chains):
            table[i, : len(chain)] = chain
        rows: list[IntArray] = []
        groups: list[IntArray] = []
        for level in range(depth):
            at_level = table[inverse, level]
            present = np.nonzero(at_level >= 0)[0]
            rows.append(present)
            groups.append(at_level[present])
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(rows), np.concatenate(groups)


@dataclass(frozen=True)
class PersonScores:
    """One row per response and theme whose score counts (the two-thirds rule met)."""

    cycle: IntArray
    team: IntArray
    theme: IntArray
    score: FloatArray


def fetch_array(
    session: Session, query: Select[*tuple[Any, ...]], width: int
) -> npt.NDArray[np.float64]:
    """Run a numeric query on the session's connection straight into a 2-D float array.

    Going through the DBAPI cursor skips building a Row object per result row, which costs
    more than the query itself at a million answers.
    """
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return np.array(rows, dtype=np.float64).reshape(-1, width)


def _cycle_filter(
    column: InstrumentedAttribute[int], cycle_ids: Collection[int] | None
) -> list[ColumnElement[bool]]:
    return [] if cycle_ids is None else [column.in_(list(cycle_ids))]


def asked_items(
    session: Session, *, cycle_ids: Collection[int] | None
) -> dict[tuple[int, str], list[int]]:
    """(cycle, theme) → the item ids the cycle asked for that theme, sorted."""
    query = (
        select(CycleItem.cycle_id, Item.theme, CycleItem.item_id)
        .join(Item, Item.id == CycleItem.item_id)
        .where(Item.theme.in_(THEMES), *_cycle_filter(CycleItem.cycle_id, cycle_ids))
        .order_by(CycleItem.cycle_id, Item.theme, CycleItem.item_id)
    )
    asked: dict[tuple[int, str], list[int]] = {}
    for cycle_id, theme, item_id in session.execute(query):
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
        )
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .join(Item, Item.id == Answer.item_id)
        .where(Item.theme.in_(THEMES), *_cycle_filter(Response.cycle_id, cycle_ids))
        .group_by(Response.id, Response.cycle_id, Response.team_id, Item.theme)
    )
    data = fetch_array(session, query, 5)
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
    order = np.lexsort((score, theme[valid], team, cycle[valid]))
    return PersonScores(cycle[valid][order], team[order], theme[valid][order], score[order])


@dataclass(frozen=True)
class ThemeStats:
    """Theme aggregates as columns, one entry per group × cycle × theme with n ≥ 1."""

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

    def __len__(self) -> int:
        return len(self.group)


@lru_cache(maxsize=65536)
def _wilson_pct(successes: int, n: int) -> tuple[float, float]:
    low, high = wilson_interval(successes, n)
    return 100.0 * low, 100.0 * high


def _group_key(*columns: IntArray) -> tuple[IntArray, IntArray, list[IntArray]]:
    """Unique rows of the given non-negative integer columns: (first index, inverse, columns).

    The columns are packed into one int64 key (mixed radix), which numpy sorts far faster
    than rows of a 2-D array.
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    radices = [int(column.max()) + 1 if len(column) else 1 for column in columns]
    for column, radix in zip(columns, radices, strict=True):
        key = key * radix + column
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1), [column[first] for column in columns]


def theme_stats(scores: PersonScores, tree: TeamTree) -> ThemeStats:
    """Roll person scores up the tree; a group's figure covers every response in its subtree."""
    rows, groups = tree.expand(scores.team)
    score = scores.score[rows]
    if len(score) == 0:
        e_i, e_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return ThemeStats(e_i, e_i, e_i, e_i, e_f, e_f, e_f, e_f, e_i, e_f, e_f, e_f)
    _, inverse, (group, cycle, theme) = _group_key(groups, scores.cycle[rows], scores.theme[rows])
    n = np.bincount(inverse).astype(np.int64)
    mean = np.bincount(inverse, weights=score) / n
    # Two passes (deviations from the group mean) keep the variance exact for equal scores.
    deviation = score - mean[inverse]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n > 1, np.bincount(inverse, weights=deviation**2) / (n - 1), np.nan)
        sd = np.sqrt(var)
        half = sps.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    half = np.where(sd == 0.0, 0.0, half)
    favourable = np.bincount(inverse, weights=(score >= FAVOURABLE_CUTOFF)).astype(np.int64)
    wilson = np.array([_wilson_pct(int(f), int(m)) for f, m in zip(favourable, n, strict=True)])
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
        favourable_pct=100.0 * favourable / n,
        fav_low=wilson[:, 0],
        fav_high=wilson[:, 1],
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


def item_stats(session: Session, *, cycle_ids: Collection[int] | None, tree: TeamTree) -> ItemStats:
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
    data = fetch_array(session, query, 9).astype(np.int64)
    rows, groups = tree.expand(data[:, 0])
    if len(rows) == 0:
        e = np.empty(0, np.int64)
        return ItemStats(e, e, e, np.empty((0, 5), np.int64), e)
    _, inverse, (group, cycle, item) = _group_key(groups, data[rows, 1], data[rows, 2])
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
    session: Session, *, cycle_ids: Collection[int] | None, tree: TeamTree
) -> ParticipationStats:
    """Counts only: who answered is never read, only how many."""
    query = (
        select(
            Invitation.team_id,
            Invitation.cycle_id,
            func.count(),
            func.sum(case((Invitation.answered.is_(True), 1), else_=0)),
        )
        .where(*_cycle_filter(Invitation.cycle_id, cycle_ids))
        .group_by(Invitation.team_id, Invitation.cycle_id)
    )
    data = fetch_array(session, query, 4).astype(np.int64)
    rows, groups = tree.expand(data[:, 0])
    if len(rows) == 0:
        e = np.empty(0, np.int64)
        return ParticipationStats(e, e, e, e)
    _, inverse, (group, cycle) = _group_key(groups, data[rows, 1])
    invited = np.bincount(inverse, weights=data[rows, 2]).astype(np.int64)
    responded = np.bincount(inverse, weights=data[rows, 3]).astype(np.int64)
    return ParticipationStats(group, cycle, invited, responded)
