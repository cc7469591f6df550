"""Writing aggregates in bulk as upserts, so a rerun leaves the same rows in place.

An upsert only rewrites a row whose figures differ from the stored ones: a rerun that changes
nothing writes nothing, so `computed_at` is the time the row's figures were last written with
new values (or first written), not the time of the last run that looked at them. Given
`within`, the rows passed are the whole content of that part of the table and any other row
there is deleted: that is how figures whose answers have vanished go away.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from sqlalchemy import JSON, Connection, Dialect, Table, or_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import psycopg

Within = Mapping[str, Collection[Any]]


def clean(values: Iterable[Any]) -> list[Any]:
    """Python scalars with NaN as None (NULL): databases must never hold a NaN figure."""
    array = np.asarray(values if isinstance(values, np.ndarray) else list(values))
    if array.dtype.kind == "f":
        return [None if v != v else v for v in array.tolist()]
    return list(array.tolist())


@lru_cache(maxsize=64)
def _compiled_upsert(
    dialect: Dialect,
    table: Table,
    names: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...],
) -> tuple[str, tuple[str, ...]]:
    # Compiling the statement costs more than writing a cycle's few hundred rows, and the
    # same few shapes recur on every run: keep the SQL text and its parameter order.
    insert = sqlite_insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: insert.excluded[name] for name in (*update, "computed_at")},
        # SQLite's IS NOT treats NULLs as equal, like IS DISTINCT FROM.
        where=or_(*(table.c[name].is_distinct_from(insert.excluded[name]) for name in update)),
    )
    compiled = statement.compile(dialect=dialect, column_keys=[*names, "computed_at"])
    return str(compiled), tuple(compiled.positiontup or ())


def upsert(
    session: Session,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    computed_at: datetime,
    within: Within | None = None,
) -> int:
    """Insert or update one row per position of the column lists; returns the row count.

    Rows whose `update` columns already hold these values are not touched. With `within`
    (column → values), rows in that part of the table that are not given are deleted.
    On PostgreSQL the rows are COPYed into a temporary table and merged set-wise;
    SQLite takes an executemany of the same upsert on the DBAPI cursor.
    """
    names = list(columns)
    count = len(columns[names[0]]) if names else 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _upsert_postgresql(
            connection, table, columns, keys=keys, update=update, now=computed_at, within=within
        )
        return count
    if within is not None:
        _delete_missing_sqlite(connection, table, columns, keys=keys, within=within)
    if count == 0:
        return 0
    # SQLite: one executemany on the DBAPI cursor. The values are already plain Python
    # scalars, so only the few columns whose type converts them (timestamps) are processed.
    sql, order = _compiled_upsert(
        connection.dialect, table, tuple(names), tuple(keys), tuple(update)
    )
    stamp = table.c.computed_at.type.bind_processor(connection.dialect)
    value = stamp(computed_at) if stamp else computed_at
    # sqlite3's own datetime adapter writes isoformat(" "); doing it once saves a call a row.
    value = value.isoformat(" ") if isinstance(value, datetime) else value
    rows = list(
        zip(
            *(columns[name] if name in columns else repeat(value, count) for name in order),
            strict=True,
        )
    )
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
    return count


def _delete_missing_sqlite(
    connection: Connection,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    within: Within,
) -> None:
    # Stale rows are rare, so the stored keys of the part are read and compared here rather
    # than staged in a temporary table; the value lists travel as one JSON array each.
    where = " AND ".join(f"{name} IN (SELECT value FROM json_each(?))" for name in within)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            f"SELECT {', '.join(keys)} FROM {table.name} WHERE {where}",
            [json.dumps(sorted(values)) for values in within.values()],
        )
        given = set(zip(*(columns[name] for name in keys), strict=True)) if columns else set()
        missing = [row for row in cursor.fetchall() if tuple(row) not in given]
        if missing:
            match = " AND ".join(f"{name} = ?" for name in keys)
            cursor.executemany(f"DELETE FROM {table.name} WHERE {match}", missing)
    finally:
        cursor.close()


def _upsert_postgresql(
    connection: Connection,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    now: datetime,
    within: Within | None,
) -> None:
    # The rows go in by binary COPY (the cheapest way in) to a temporary table, then three
    # set-wise statements merge them: delete the part's rows that were not given, update
    # the rows whose figures differ, insert the new ones. Unchanged rows are only read: no
    # new row version, no index entries, no row lock (an ON CONFLICT … WHERE would lock
    # each one). The temporary table is private to this connection, so concurrent runs
    # never see each other's rows, and it is dropped straight after (or at commit).
    names = list(columns)
    target = table.name
    bounds = " AND ".join(f"t.{name} = ANY(%s)" for name in within or {})
    bound_values = [sorted(values) for values in (within or {}).values()]
    cursor = cast("psycopg.Cursor[Any]", connection.connection.dbapi_connection.cursor())  # type: ignore[union-attr]
    try:
        if not names or not columns[names[0]]:
            if within is not None:
                cursor.execute(f"DELETE FROM {target} t WHERE {bounds}", bound_values)
            return
        staging = f"pulse_upsert_{target}"
        listed = ", ".join(names)
        match = " AND ".join(f"s.{name} = t.{name}" for name in keys)
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staging}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {listed} FROM {target} WITH NO DATA"
        )
        # Binary COPY needs each column's type: take them from the staging table, with JSON
        # as text, since our JSON arrives serialised and json's binary form is its text.
        cursor.execute(f"SELECT {_compared(table, names, staging)} FROM {staging} LIMIT 0")
        types = [column.type_code for column in cursor.description or ()]
        with cursor.copy(f"COPY {staging} ({listed}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in zip(*(columns[name] for name in names), strict=True):
                copy.write_row(row)
        if within is not None:
            cursor.execute(
                f"DELETE FROM {target} t WHERE {bounds} "
                f"AND NOT EXISTS (SELECT 1 FROM {staging} s WHERE {match})",
                bound_values,
            )
        stamp = table.c.computed_at.type.bind_processor(connection.dialect)
        value = stamp(now) if stamp else now
        assignments = ", ".join(f"{name} = s.{name}" for name in update)
        # The bounds let the planner read only the part's stored rows, by index.
        cursor.execute(
            f"UPDATE {target} t SET {assignments}, computed_at = %s FROM {staging} s "
            f"WHERE {match} AND {bounds or 'TRUE'} "
            f"AND ({_compared(table, update, 't')}) IS DISTINCT FROM "
            f"({_compared(table, update, 's')})",
            [value, *bound_values],
        )
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in (*update, "computed_at"))
        # ON CONFLICT is a safety net only: runs over the same cycles are serialised.
        cursor.execute(
            f"INSERT INTO {target} ({listed}, computed_at) "
            f"SELECT {listed}, %s FROM {staging} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {target} t WHERE {match} AND {bounds or 'TRUE'}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}",
            [value, *bound_values],
        )
        cursor.execute(f"DROP TABLE pg_temp.{staging}")
    finally:
        cursor.close()


def _compared(table: Table, names: Sequence[str], alias: str) -> str:
    # json has no equality operator on PostgreSQL; its text is what was written, so compare that.
    return ", ".join(
        f"{alias}.{name}::text" if isinstance(table.c[name].type, JSON) else f"{alias}.{name}"
        for name in names
    )
