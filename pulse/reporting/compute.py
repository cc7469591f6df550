"""Set-based aggregation: SQL GROUP BYs to the person level, then numpy over whole cycles.

Nothing here builds one ORM object per answer: the database reduces a million answers to one
row per response and theme (person scores) and one row per team, cycle and item (answer
counts); numpy then rolls those up the team tree and computes intervals in bulk. The scoring
rules are those of pulse.scoring, and the tests check both paths agree.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import chain as chained
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps
from scipy.special import ndtri
from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from pulse.answers.models import Answer, Response
from pulse.instrument import THEMES
from pulse.scoring import FAVOURABLE_CUTOFF
from pulse.surveys.models import Item

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
THEME_INDEX = {theme: i for i, theme in enumerate(THEMES)}


@dataclass(frozen=True)
class TeamTree:
    """Each team's chain of groups it reports into: itself, its parent, … up to the top."""

    parents: dict[int, int | None]
    # Chains already walked: a run expands the same teams for scores, items and participation.
    _chains: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, session: Session) -> TeamTree:
        """The whole tree in one query."""
        return cls(dict(run_sql(session, "SELECT id, parent_id FROM teams")))

    def chain(self, team_id: int) -> list[int]:
        """The team and its ancestors, nearest first."""
        known = self._chains.get(team_id)
        if known is not None:
            return list(known)
        chain = [team_id]
        current = self.parents.get(team_id)
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parents.get(current)
        self._chains[team_id] = chain
        return list(chain)

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


def run_sql(session: Session, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Rows of a plain SQL query with `?` placeholders, read on the DBAPI cursor.

    The small lookups of every incremental run cost more in statement compilation and Row
    objects than in the database; this skips both. Pending ORM changes are flushed first,
    as session.execute() would.
    """
    if session.autoflush:
        session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def marks(count: int) -> str:
    """`count` comma-separated placeholders for an IN list (NULL when empty: matches nothing)."""
    return ", ".join("?" * count) or "NULL"


# Theme names are our own constants, so writing them inline cannot inject anything.
THEME_LIST = ", ".join(f"'{theme}'" for theme in THEMES)


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
        )
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .join(Item, Item.id == Answer.item_id)
        .where(Item.theme.in_(THEMES), *_cycle_filter(Response.cycle_id, cycle_ids))
        .group_by(Response.id, Response.cycle_id, Response.team_id, Item.theme)
    )
    return _scores_from_rows(fetch_array(session, query, 5), asked)


def _scores_from_rows(data: FloatArray, asked: dict[tuple[int, str], list[int]]) -> PersonScores:
    """Rows (cycle, team, theme, recoded sum, answered) per response × theme → valid scores."""
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
    group = cycle * (int(team.max(initial=0)) + 1) + team
    order = np.lexsort((score, group * len(THEMES) + theme))
    return PersonScores(cycle[order], team[order], theme[order], score[order])


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


# The normal quantile of a 95% two-sided interval, computed as scipy's Wilson interval does.
_Z = ndtri(0.5 + 0.5 * 0.95)


def wilson_pct(successes: IntArray, n: IntArray) -> tuple[FloatArray, FloatArray]:
    """pulse.stats.wilson_interval in percent for whole columns of counts (every n ≥ 1).

    The same operations in the same order as scipy's Wilson interval (no continuity
    correction) behind wilson_interval, so every bound is bit-identical to it; scipy asks for
    one binomial test per distinct count, which a first build pays hundreds of times.
    """
    k = np.asarray(successes, dtype=np.int64)
    size = np.asarray(n, dtype=np.int64)
    p = k / size
    denom = 2 * (size + _Z**2)
    center = (2 * size * p + _Z**2) / denom
    q = 1 - p
    delta = _Z / denom * np.sqrt(4 * size * p * q + _Z**2)
    low = np.where(k == 0, 0.0, center - delta)
    high = np.where(k == size, 1.0, center + delta)
    return 100.0 * low, 100.0 * high


def _group_key(*columns: IntArray) -> tuple[IntArray, IntArray, list[IntArray]]:
    """Unique rows of the given integer columns, in order: (an index of each, inverse, columns).

    The columns are packed into one int64 key (mixed radix over each column's range), which
    numpy sorts far faster than rows of a 2-D array; when the keys span little more than the
    rows, counting them into bins finds the same unique keys without sorting at all.
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1
    for column in columns:
        low = int(column.min()) if len(column) else 0
        radix = int(column.max()) - low + 1 if len(column) else 1
        key = key * radix + (column - low)
        span *= radix
    if span > 4 * len(key) + 1024:
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        return first, inverse.reshape(-1), [column[first] for column in columns]
    present = np.flatnonzero(np.bincount(key, minlength=span))
    rank = np.zeros(span, dtype=np.int64)
    rank[present] = np.arange(len(present))
    # Every row of a key holds the same column values, so any of them will do.
    some = np.zeros(span, dtype=np.int64)
    some[key] = np.arange(len(key))
    chosen = some[present]
    return chosen, rank[key], [column[chosen] for column in columns]


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
    fav_low, fav_high = wilson_pct(favourable, n)
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
        fav_low=fav_low,
        fav_high=fav_high,
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
    return _roll_items(fetch_array(session, query, 9).astype(np.int64), tree)


def _roll_items(data: IntArray, tree: TeamTree) -> ItemStats:
    """Rows (team, cycle, item, count of 1..5, total) rolled up the tree."""
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
    ids = [] if cycle_ids is None else sorted(cycle_ids)
    where = "" if cycle_ids is None else f"WHERE cycle_id IN ({marks(len(ids))})"
    found = run_sql(
        session,
        "SELECT team_id, cycle_id, COUNT(*), SUM(CASE WHEN answered THEN 1 ELSE 0 END) "
        f"FROM invitations {where} GROUP BY team_id, cycle_id",
        ids,
    )
    data = np.array(found, dtype=np.int64).reshape(-1, 4)
    rows, groups = tree.expand(data[:, 0])
    if len(rows) == 0:
        e = np.empty(0, np.int64)
        return ParticipationStats(e, e, e, e)
    _, inverse, (group, cycle) = _group_key(groups, data[rows, 1])
    invited = np.bincount(inverse, weights=data[rows, 2]).astype(np.int64)
    responded = np.bincount(inverse, weights=data[rows, 3]).astype(np.int64)
    return ParticipationStats(group, cycle, invited, responded)


# One pass over the answers feeds both person scores and item distributions. Each answer
# arrives as plain integers: a per-call response number, team, cycle, item and value (-1 for
# "don't know" or skipped), so numpy does every grouping and no Row object is ever built.
_ANSWER_COLUMNS = 5
_ITEM_SLOTS = 1 << 20
_VALUE_SLOTS = 1 << 8


def _cycle_where(cycle_ids: Collection[int] | None) -> str:
    # Cycle ids are integers we hold, so writing them inline cannot inject anything.
    if cycle_ids is None:
        return ""
    return f"WHERE r.cycle_id IN ({', '.join(str(int(c)) for c in cycle_ids) or 'NULL'})"


def _fetch_answers_sqlite_wide(cursor: Any, where: str) -> IntArray:
    cursor.execute(
        "SELECT r.rowid, r.team_id, r.cycle_id, a.item_id, COALESCE(a.value, -1) "
        f"FROM answers a JOIN responses r ON r.id = a.response_id {where}"
    )
    rows = cursor.fetchall()
    flat = np.fromiter(chained.from_iterable(rows), dtype=np.int64, count=len(rows) * 5)
    answers = flat.reshape(-1, _ANSWER_COLUMNS)
    answers[:, 0] = np.unique(answers[:, 0], return_inverse=True)[1].reshape(-1)
    return answers


def _integers(text: str | None) -> IntArray:
    """Integers written out with single spaces between them (None: none at all)."""
    return np.fromstring(text or "", dtype=np.int64, sep=" ")


def _fetch_answers_sqlite(cursor: Any, cycle_ids: Collection[int] | None) -> IntArray:
    # The rowid names a response by an integer for free. Building a Python object per row is
    # most of the cost, so each answer travels as one integer (response, item, value + 1:
    # answers are validated to their scale, at most 0..10), the integers of a cycle as one
    # text that numpy parses (one per cycle keeps each far below SQLite's limit on a value's
    # length), and the team and cycle come from the far smaller responses table.
    where = _cycle_where(cycle_ids)
    cursor.execute(
        "SELECT group_concat(r.rowid || ' ' || r.team_id || ' ' || r.cycle_id, ' ') "
        f"FROM responses r {where} GROUP BY r.cycle_id"
    )
    found = [_integers(text) for (text,) in cursor.fetchall()]
    responses = np.concatenate(found or [_integers(None)]).reshape(-1, 3)
    responses = responses[np.argsort(responses[:, 0])]
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM items")
    if cursor.fetchone()[0] >= _ITEM_SLOTS:
        return _fetch_answers_sqlite_wide(cursor, where)
    # A value that would not fit its slot comes back NULL, which group_concat leaves out: the
    # count tells, so it fails loudly below instead of being decoded as a different answer.
    cursor.execute(
        f"SELECT group_concat((r.rowid * {_ITEM_SLOTS} + a.item_id) * {_VALUE_SLOTS} + CASE "
        f"WHEN a.value IS NULL THEN 0 WHEN a.value BETWEEN 0 AND {_VALUE_SLOTS - 2} "
        "THEN a.value + 1 END, ' '), COUNT(*) "
        f"FROM answers a JOIN responses r ON r.id = a.response_id {where} GROUP BY r.cycle_id"
    )
    parts = cursor.fetchall()
    packed = np.concatenate([_integers(text) for text, _ in parts] or [_integers(None)])
    if len(packed) != sum(count for _, count in parts):
        raise ValueError(
            f"an answer value lies outside 0..{_VALUE_SLOTS - 2}; answers must be on their scale"
        )
    del parts
    # The slots are powers of two, so shifts and masks unpack them (far cheaper than division).
    value_bits, item_bits = _VALUE_SLOTS.bit_length() - 1, _ITEM_SLOTS.bit_length() - 1
    answers = np.empty((len(packed), _ANSWER_COLUMNS), dtype=np.int64)
    answers[:, 4] = (packed & (_VALUE_SLOTS - 1)) - 1
    answers[:, 3] = (packed >> value_bits) & (_ITEM_SLOTS - 1)
    at = np.searchsorted(responses[:, 0], packed >> (value_bits + item_bits))
    # Column 0 is the response's position among this call's responses: dense from 0.
    answers[:, 0] = at
    answers[:, 1] = responses[at, 1]
    answers[:, 2] = responses[at, 2]
    return answers


def _fetch_answers_postgresql_wide(cursor: Any, where: str) -> IntArray:
    # Five big-endian int4 per answer, for item ids past the packed form's range.
    cursor.execute(
        "WITH r AS MATERIALIZED (SELECT id, team_id, cycle_id, "
        f"row_number() OVER () AS n FROM responses r {where}) "
        "SELECT string_agg(int4send((r.n - 1)::int4) || int4send(r.team_id) || "
        "int4send(r.cycle_id) || int4send(a.item_id) || int4send(COALESCE(a.value, -1)), "
        "''::bytea) FROM answers a JOIN r ON r.id = a.response_id GROUP BY r.cycle_id",
        binary=True,
    )
    payload = b"".join(bytes(packed) for (packed,) in cursor.fetchall())
    return np.frombuffer(payload, dtype=">i4").astype(np.int64).reshape(-1, _ANSWER_COLUMNS)


_NUMBERED = np.dtype([("n", ">i8"), ("team", ">i4"), ("cycle", ">i4")])


def _fetch_answers_postgresql(cursor: Any, cycle_ids: Collection[int] | None) -> IntArray:
    # The server packs each answer into one int8 (response number, item, value + 1, as on
    # SQLite) and concatenates them into one bytea per cycle, which numpy reads in place: a
    # COPY would hand Python one message per answer, and per cycle keeps each value far below
    # bytea's 1 GB limit. row_number() over the (much smaller) responses stands in for the
    # text response id; the same statement hands over each number's team and cycle, so the
    # numbering is read once (the materialised CTE) and both parts agree on it.
    where = _cycle_where(cycle_ids)
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM items")
    if cursor.fetchone()[0] >= _ITEM_SLOTS:
        return _fetch_answers_postgresql_wide(cursor, where)
    # A value that would not fit its slot makes the int8 NULL, which string_agg leaves out:
    # the count tells, so it fails loudly below instead of being decoded as another answer.
    cursor.execute(
        "WITH r AS MATERIALIZED (SELECT id, team_id, cycle_id, "
        f"row_number() OVER () - 1 AS n FROM responses r {where}) "
        "SELECT NULL::int, string_agg(int8send(n) || int4send(team_id) || int4send(cycle_id), "
        "''::bytea), COUNT(*) FROM r UNION ALL "
        f"SELECT r.cycle_id, string_agg(int8send((r.n * {_ITEM_SLOTS} + a.item_id) * "
        f"{_VALUE_SLOTS} + CASE WHEN a.value IS NULL THEN 0 WHEN a.value BETWEEN 0 AND "
        f"{_VALUE_SLOTS - 2} THEN a.value + 1 END), ''::bytea), COUNT(*) "
        "FROM answers a JOIN r ON r.id = a.response_id GROUP BY r.cycle_id",
        binary=True,
    )
    parts = cursor.fetchall()
    numbered = np.frombuffer(
        b"".join(bytes(data or b"") for cycle, data, _ in parts if cycle is None), dtype=_NUMBERED
    )
    team = np.zeros(len(numbered), dtype=np.int64)
    cycle = np.zeros(len(numbered), dtype=np.int64)
    team[numbered["n"]] = numbered["team"]
    cycle[numbered["n"]] = numbered["cycle"]
    answered = [(data, count) for cycle_id, data, count in parts if cycle_id is not None]
    packed = np.frombuffer(b"".join(bytes(data or b"") for data, _ in answered), dtype=">i8")
    if len(packed) != sum(count for _, count in answered):
        raise ValueError(
            f"an answer value lies outside 0..{_VALUE_SLOTS - 2}; answers must be on their scale"
        )
    return _unpack(packed.astype(np.int64), team, cycle)


def _unpack(packed: IntArray, team: IntArray, cycle: IntArray) -> IntArray:
    """Answers packed as (response number, item, value + 1) → rows (response, team, cycle,
    item, value), given each response number's team and cycle."""
    # The slots are powers of two, so shifts and masks unpack them (far cheaper than division).
    value_bits, item_bits = _VALUE_SLOTS.bit_length() - 1, _ITEM_SLOTS.bit_length() - 1
    answers = np.empty((len(packed), _ANSWER_COLUMNS), dtype=np.int64)
    answers[:, 4] = (packed & (_VALUE_SLOTS - 1)) - 1
    answers[:, 3] = (packed >> value_bits) & (_ITEM_SLOTS - 1)
    number = packed >> (value_bits + item_bits)
    answers[:, 0] = number
    answers[:, 1] = team[number]
    answers[:, 2] = cycle[number]
    return answers


def fetch_answers(session: Session, *, cycle_ids: Collection[int] | None) -> IntArray:
    """Every answer of `cycle_ids` (None: all) as rows (response, team, cycle, item, value).

    Responses are numbered 0, 1, … within the call; a value of -1 is "don't know" or skipped.
    """
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if connection.dialect.name == "postgresql":
            return _fetch_answers_postgresql(cursor, cycle_ids)
        return _fetch_answers_sqlite(cursor, cycle_ids)
    finally:
        cursor.close()


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
    data = np.empty((0, 5), dtype=np.float64)
    if len(rows):
        # Responses are numbered densely from 0, so response × theme is a direct bin index.
        size = (int(rows[:, 0].max()) + 1) * len(THEMES)
        key = rows[:, 0] * len(THEMES) + theme
        answered = np.bincount(key, weights=given, minlength=size)
        total = np.bincount(key, weights=np.where(given, recoded, 0), minlength=size)
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
            ],
            axis=1,
        )
    return _scores_from_rows(data, asked)


def items_from_answers(answers: IntArray, tree: TeamTree) -> ItemStats:
    """item_stats computed from fetched answer rows instead of a GROUP BY."""
    if len(answers) == 0:
        return _roll_items(np.empty((0, 9), dtype=np.int64), tree)
    first, inverse, (team, cycle, item) = _group_key(answers[:, 1], answers[:, 2], answers[:, 3])
    value = answers[:, 4]
    bucket = (value >= 1) & (value <= 5)
    size = len(first)
    counts = np.bincount(inverse[bucket] * 5 + (value[bucket] - 1), minlength=size * 5).reshape(
        size, 5
    )
    total = np.bincount(inverse, weights=np.where(value >= 0, value, 0), minlength=size)
    data = np.column_stack([team, cycle, item, counts, total.astype(np.int64)]).astype(np.int64)
    return _roll_items(data, tree)
