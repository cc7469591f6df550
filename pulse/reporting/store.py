"""Writing aggregates in bulk as upserts, so a rerun rewrites the same rows in place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


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
) -> int:
    """Insert or update one row per position of the column lists; returns the row count.

    On PostgreSQL the rows are COPYed into a temporary table and merged by one statement;
    SQLite takes an executemany of the same upsert on the DBAPI cursor.
    """
    names = list(columns)
    count = len(columns[names[0]]) if names else 0
    if count == 0:
        return 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _upsert_postgresql(connection, table, columns, keys=keys, update=update, now=computed_at)
        return count
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


def _upsert_postgresql(
    connection: Connection,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    now: datetime,
) -> None:
    # COPY is the cheapest way in for many rows, and one INSERT … SELECT … ON CONFLICT then
    # merges them set-wise. The temporary table is private to this connection, so concurrent
    # runs never see each other's rows, and it is dropped straight after (or at commit).
    names = list(columns)
    staging = f"pulse_upsert_{table.name}"
    listed = ", ".join(names)
    stamp = table.c.computed_at.type.bind_processor(connection.dialect)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staging}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {listed} FROM {table.name} WITH NO DATA"
        )
        with cursor.copy(f"COPY {staging} ({listed}) FROM STDIN") as copy:
            for row in zip(*(columns[name] for name in names), strict=True):
                copy.write_row(row)
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in (*update, "computed_at"))
        cursor.execute(
            f"INSERT INTO {table.name} ({listed}, computed_at) "
            f"SELECT {listed}, %s FROM {staging} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}",
            (stamp(now) if stamp else now,),
        )
        cursor.execute(f"DROP TABLE pg_temp.{staging}")
    finally:
        cursor.close()
