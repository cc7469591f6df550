"""Speed tricks of the reporting layer, in one place: what each does and why it pays.

The statistics in pulse.reporting.compute read as plain numpy over plain rows. Getting a
million answers to numpy quickly is the job of this module, and nothing here changes a
figure, only how fast it arrives:

- run_sql and fetch_array read small lookups and numeric queries on the DBAPI cursor,
  skipping statement compilation and one Row object per result row;
- fetch_answers has the database pack each answer into one integer and ship a cycle's
  answers as one value, which numpy unpacks with shifts and masks;
- group_key finds unique rows of integer columns by packing them into one key, and counts
  them into bins instead of sorting when the keys span little more than the rows;
- group_rows reads a report's stored per-group figures as named tuples off the cursor, and
  filters a long list of groups (an admin's whole organisation) after reading, not in SQL;
- the statements every dashboard request runs are built once (see "Statements built once");
- tree_generation lets a report trust a cycle's suppression stamp without reading the
  cycle's tree snapshot (see "The tree generation" below).

The tests check every path against the plain GROUP BYs of pulse.reporting.compute.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Collection, Sequence
from functools import lru_cache
from itertools import chain as chained
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select
from sqlalchemy.orm import Session

IntArray = npt.NDArray[np.int64]


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
        _announce(connection, cursor, sql, params)
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _announce(connection: Any, cursor: Any, sql: str, params: Sequence[Any]) -> None:
    # SQLAlchemy's cursor listeners (query logging, the tests that count queries) see run_sql's
    # queries too; with none registered this costs one attribute check.
    if connection.dispatch.before_cursor_execute:
        connection.dispatch.before_cursor_execute(
            connection, cursor, sql, tuple(params), None, False
        )


def marks(count: int) -> str:
    """`count` comma-separated placeholders for an IN list (NULL when empty: matches nothing)."""
    return ", ".join("?" * count) or "NULL"


# Up to this many groups are filtered in SQL; more are read with every group of the cycles
# and kept here. SQLite checks an IN list of a thousand groups more slowly than a set lookup
# per row, and a report asking for that many groups wants most of a cycle's rows anyway.
FEW_GROUPS = 200


@lru_cache(maxsize=64)
def _row_type(table: str, columns: tuple[str, ...]) -> Any:
    return namedtuple(f"{table}_row", columns)


def group_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    *,
    cycle_ids: Collection[int],
    team_ids: Collection[int],
    where: str = "",
) -> list[Any]:
    """The rows of a table of per-group figures (team_id, cycle_id, …) for these cycles and
    groups, with `where` (plain SQL over the table's columns) on top: named tuples whose
    fields are `columns`, values as the driver gives them (0/1 for SQLite's booleans).

    A report reads a row per group and cycle, and an admin's overview every group of the
    organisation: the ORM would build each of those rows column by column in Python.
    """
    cycles = sorted(set(cycle_ids))
    groups = set(team_ids)
    if not cycles or not groups:
        return []
    make = _row_type(table, tuple(columns))._make
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} "
        f"WHERE cycle_id IN ({marks(len(cycles))}){f' AND ({where})' if where else ''}"
    )
    if len(groups) <= FEW_GROUPS:
        few = sorted(groups)
        found = run_sql(session, f"{sql} AND team_id IN ({marks(len(few))})", [*cycles, *few])
        return [make(row) for row in found]
    team = list(columns).index("team_id")
    return [make(row) for row in run_sql(session, sql, cycles) if row[team] in groups]


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


def group_key(*columns: IntArray) -> tuple[IntArray, IntArray, list[IntArray]]:
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


# Statements built once
# ---------------------
# Building a SQLAlchemy select (its columns, joins and IN lists, then its cache key) costs
# several times what SQLite takes to answer a dashboard's small lookups: was_surveyed cost
# 0.56 ms built per call and 0.10 ms built once. The statements every dashboard request runs
# (pulse.reporting.queries, detail, pattern, themes; the thresholds in
# pulse.organisation.service) are therefore module constants whose values, lists included
# (expanding bind parameters), are bound when they run. They read as the plain queries they are.


# The tree generation
# -------------------
# A suppression stamp holds for the tree its cycle is reported on, which is the cycle's
# snapshot over the tree as it is now (pulse.reporting.trees). Checking that by digest means
# reading the snapshot of every cycle a report asks about: at 10,000 people and 52 cycles
# some 58,000 rows on every request, whoever is looking. Instead, database triggers (migration
# 0016) add one to a counter, the one row of `tree_generations`, in the same transaction as
# any write that can change a tree or a name in it: a team inserted or deleted, a team's
# parent or name updated, a snapshot row written. No code path can forget them (team moves,
# the people import, SCIM and snapshot_tree all write these tables).
#
# A stamp records the generation read *before* the trees it was decided on. While the counter
# still reads that number, nothing in any tree has changed since, so the stamp's tree key
# still holds and the snapshot need not be read; a report reads the counter before its own
# teams and again when it checks stamps, and trusts this shortcut only if both equal the
# stamp's (a change between the two reads falls back). Any other stamp is checked by its key
# as before, so a stale stamp is never trusted. A stamp also records whether every row of the
# cycle's snapshot equalled the teams as they were (`snapshot_current`): such a cycle's tree
# and names are those of now, and a report on it reads no snapshot at all.


def tree_generation(session: Session) -> int | None:
    """The tree generation now (None if its counter row is missing: then nothing is trusted
    by generation, only by key)."""
    found = run_sql(session, "SELECT value FROM tree_generations WHERE id = 1")
    return int(found[0][0]) if found else None


def snapshots_current(session: Session, cycle_ids: Collection[int]) -> set[int]:
    """The cycles among these whose every snapshot row matches its team as it is now (same
    parent, same name): their tree and names are the current ones."""
    wanted = sorted(set(cycle_ids))
    differ = {
        cycle_id
        for (cycle_id,) in run_sql(
            session,
            "SELECT DISTINCT s.cycle_id FROM cycle_teams s LEFT JOIN teams t ON t.id = s.team_id "
            f"WHERE s.cycle_id IN ({marks(len(wanted))}) AND (t.id IS NULL "
            "OR COALESCE(t.parent_id, 0) <> COALESCE(s.parent_id, 0) OR t.name <> s.name)",
            wanted,
        )
    }
    return {c for c in wanted if c not in differ}
