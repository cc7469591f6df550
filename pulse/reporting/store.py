"""Writing aggregates in bulk as upserts, so a rerun leaves the same rows in place.

Given `within`, the rows passed are the whole content of that part of the table: the stored
rows of the part are read first, rows whose figures are unchanged are left alone, changed and
new ones are written, and stored rows that were not given (their answers have vanished) are
deleted. A rerun that changes nothing therefore writes nothing, so `computed_at` is the time
a row's figures were last written with new values (or first written), not the time of the
last run that looked at them.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import compress, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from sqlalchemy import JSON, Connection, Dialect, Table, case, or_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import psycopg

Within = Mapping[str, Collection[Any]]
Row = tuple[Any, ...]


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
    untimed: tuple[str, ...],
) -> tuple[str, tuple[str, ...]]:
    # Compiling the statement costs more than writing a cycle's few hundred rows, and the
    # same few shapes recur on every run: keep the SQL text and its parameter order.
    insert = sqlite_insert(table)

    def changed(names: tuple[str, ...]) -> Any:
        return or_(*(table.c[name].is_distinct_from(insert.excluded[name]) for name in names))

    set_: dict[str, Any] = {name: insert.excluded[name] for name in (*update, *untimed)}
    set_["computed_at"] = (
        case((changed(update), insert.excluded.computed_at), else_=table.c.computed_at)
        if untimed
        else insert.excluded.computed_at
    )
    statement = insert.on_conflict_do_update(
        index_elements=list(keys),
        set_=set_,
        # Unchanged rows keep their computed_at (SQLite's IS NOT treats NULLs as equal).
        where=changed((*update, *untimed)),
    )
    compiled = statement.compile(dialect=dialect, column_keys=[*names, "computed_at"])
    return str(compiled), tuple(compiled.positiontup or ())


@dataclass(frozen=True)
class _Changes:
    keep: list[bool] | None  # which given rows to write (None: all of them)
    updating: bool  # some of them replace stored rows
    inserting: bool  # some of them are new
    gone: list[Row]  # keys of stored rows that were not given
    fresh: bool = False  # the part holds no stored row at all: every given row is new

    def written(self, values: Iterable[Row]) -> list[Row]:
        """Those of these rows (one per given row, in order) that are to be written."""
        return list(values if self.keep is None else compress(values, self.keep))


_EVERYTHING = _Changes(None, True, True, [])
_NOTHING = _Changes([], False, False, [])


def upsert(
    session: Session,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    computed_at: datetime,
    within: Within | None = None,
    untimed: Sequence[str] = (),
) -> int:
    """Insert or update one row per position of the column lists; returns the row count.

    Rows whose `update` and `untimed` columns already hold these values are not touched; a
    row whose `untimed` columns alone change (flags decided over many rows, not the row's own
    figures) keeps its computed_at. With `within` (column → values), stored rows in that part
    of the table that are not given are deleted.
    On PostgreSQL the rows to write are COPYed into a temporary table and merged set-wise, or
    straight into the table when the part holds no row yet; SQLite takes an executemany of the
    same upsert on the DBAPI cursor.
    """
    names = tuple(columns)
    count = len(columns[names[0]]) if names else 0
    connection = session.connection()
    with _bulk_tuples():
        changes = _EVERYTHING
        if within is not None:
            changes = _changes(
                connection, table, columns, keys=keys, update=(*update, *untimed), within=within
            )
        if changes.gone:
            _delete(connection, table, keys, changes.gone)
        if count == 0 or changes.keep == [] or not (changes.updating or changes.inserting):
            return count
        if connection.dialect.name == "postgresql":
            _merge_postgresql(
                connection,
                table,
                columns,
                changes,
                keys=keys,
                update=update,
                untimed=untimed,
                now=computed_at,
                within=within or {},
            )
        else:
            _upsert_sqlite(
                connection,
                table,
                columns,
                changes,
                keys=keys,
                update=update,
                untimed=untimed,
                now=computed_at,
            )
    return count


@contextmanager
def _bulk_tuples() -> Iterator[None]:
    """Pause the cycle collector while many small tuples of scalars are built and used."""
    # Such tuples cannot form reference cycles, yet creating a hundred thousand of them
    # sets the collector walking every live object again and again: several times the
    # cost of reading them. They are freed by reference counting when the block ends,
    # and the collector runs again.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _changes(
    connection: Connection,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    within: Within,
) -> _Changes:
    """What writing these rows into the `within` part of the table has to change."""
    # Reading the part back and comparing here is cheaper than asking the database to
    # compare every row: a rerun usually changes nothing, so usually nothing is sent back.
    # Whole (keys, figures) tuples are compared as set members, so the work stays in C.
    # Values compare exactly: floats round-trip, JSON is compared as the text written.
    compared = (*keys, *update)
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        where = " AND ".join(f"{name} = ANY(%s)" for name in within)
        values: list[Any] = [sorted(values) for values in within.values()]
    else:
        where = " AND ".join(f"{name} IN (SELECT value FROM json_each(?))" for name in within)
        values = [json.dumps(sorted(values)) for values in within.values()]
    sql = f"SELECT {_listed(table, compared, cast_json=postgres)} FROM {table.name} WHERE {where}"
    cursor = _cursor(connection)
    try:
        # Binary results spare PostgreSQL and the client formatting and parsing floats.
        cursor.execute(sql, values, **({"binary": True} if postgres else {}))
        stored = set(cursor.fetchall())
    finally:
        cursor.close()
    if not stored:
        return _Changes(None, False, True, [], fresh=True)
    count = len(next(iter(columns.values())))
    if len(stored) == count and stored.issuperset(
        zip(*(columns[name] for name in compared), strict=True)
    ):
        return _NOTHING  # every row is stored as given: the usual rerun
    given = list(zip(*(columns[name] for name in compared), strict=True))
    keep = [row not in stored for row in given]
    leftover = stored.difference(given)  # stored rows that change or go
    width = len(keys)
    rewritten = {row[:width] for row in compress(given, keep)} if leftover else set()
    gone = [row[:width] for row in leftover if row[:width] not in rewritten]
    changed = len(leftover) - len(gone)  # stored rows that given ones replace
    return _Changes(keep, updating=changed > 0, inserting=sum(keep) > changed, gone=gone)


def _getter(names: Sequence[str], wanted: Sequence[str]) -> Any:
    positions = [names.index(name) for name in wanted]
    if len(positions) == 1:
        return lambda row: (row[positions[0]],)
    return itemgetter(*positions)


def _delete(connection: Connection, table: Table, keys: Sequence[str], gone: list[Row]) -> None:
    # Stale rows are few (a group whose answers vanished), so one DELETE per key will do.
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    match = " AND ".join(f"{name} = {mark}" for name in keys)
    cursor = _cursor(connection)
    try:
        cursor.executemany(f"DELETE FROM {table.name} WHERE {match}", gone)
    finally:
        cursor.close()


def _upsert_sqlite(
    connection: Connection,
    table: Table,
    columns: Mapping[str, list[Any]],
    changes: _Changes,
    *,
    keys: Sequence[str],
    update: Sequence[str],
    untimed: Sequence[str],
    now: datetime,
) -> None:
    # One executemany on the DBAPI cursor. The values are already plain Python scalars,
    # so only the few columns whose type converts them (timestamps) are processed.
    names = tuple(columns)
    sql, order = _compiled_upsert(
        connection.dialect, table, names, tuple(keys), tuple(update), tuple(untimed)
    )
    value = bound_timestamp(connection, table, now)
    # The compiled INSERT also lists columns with a Python-side default that were not given.
    constants = {"computed_at": value}
    for name in order:
        if name not in columns and name != "computed_at":
            constants[name] = _scalar_default(table, name)
    count = len(next(iter(columns.values())))
    rows = changes.written(
        zip(
            *(columns[n] if n in columns else repeat(constants[n], count) for n in order),
            strict=True,
        )
    )
    cursor = _cursor(connection)
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def bound_timestamp(connection: Connection, table: Table, now: datetime) -> Any:
    """`now` as the DBAPI cursor takes it for the table's computed_at column."""
    stamp = table.c.computed_at.type.bind_processor(connection.dialect)
    value = stamp(now) if stamp else now
    if connection.dialect.name == "sqlite" and isinstance(value, datetime):
        # sqlite3's own datetime adapter writes isoformat(" "); doing it once saves a call a row.
        return value.isoformat(" ")
    return value


def _scalar_default(table: Table, name: str) -> Any:
    default = table.c[name].default
    if default is None or not default.is_scalar:
        raise ValueError(f"no value given for {table.name}.{name}")
    return default.arg  # type: ignore[attr-defined]


def _merge_postgresql(
    connection: Connection,
    table: Table,
    columns: Mapping[str, list[Any]],
    changes: _Changes,
    *,
    keys: Sequence[str],
    update: Sequence[str],
    untimed: Sequence[str],
    now: datetime,
    within: Within,
) -> None:
    # The rows go in by binary COPY (the cheapest way in) to a temporary table; one
    # UPDATE … FROM rewrites the stored rows they replace and one INSERT adds the new ones.
    # The temporary table is private to this connection, so concurrent runs never see
    # each other's rows, and it is dropped straight after (or at commit).
    names = tuple(columns)
    target = table.name
    staging = f"pulse_upsert_{target}"
    listed = ", ".join(names)
    match = " AND ".join(f"s.{name} = t.{name}" for name in keys)
    # The bounds let the planner read only the part's stored rows, by index.
    bounds = "".join(f" AND t.{name} = ANY(%s)" for name in within)
    bound_values = [sorted(values) for values in within.values()]
    value = bound_timestamp(connection, table, now)
    cursor = _cursor(connection)
    try:
        if changes.fresh:
            # Nothing stored in the part (a first build): the rows go straight in. Runs over
            # the same cycles are serialised, so none can appear meanwhile; were one there,
            # the unique key would fail the run rather than keep two.
            cursor.execute(f"SELECT {_listed(table, names, cast_json=True)} FROM {target} LIMIT 0")
            types = [column.type_code for column in cursor.description or ()]
            cursor.execute(f"SELECT computed_at FROM {target} LIMIT 0")
            types += [column.type_code for column in cursor.description or ()]
            with cursor.copy(
                f"COPY {target} ({listed}, computed_at) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(types)
                count = len(next(iter(columns.values())))
                for row in zip(*columns.values(), repeat(value, count), strict=True):
                    copy.write_row(row)
            return
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staging}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {listed} FROM {target} WITH NO DATA"
        )
        # Binary COPY needs each column's type: take them from the staging table, with JSON
        # as text, since our JSON arrives serialised and json's binary form is its text.
        cursor.execute(f"SELECT {_listed(table, names, cast_json=True)} FROM {staging} LIMIT 0")
        types = [column.type_code for column in cursor.description or ()]
        with cursor.copy(f"COPY {staging} ({listed}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in changes.written(zip(*columns.values(), strict=True)):
                copy.write_row(row)
        if changes.updating:
            written = (*update, *untimed)
            assignments = ", ".join(f"{name} = s.{name}" for name in written)

            def differ(names: Sequence[str]) -> str:
                return (
                    f"({_listed(table, names, 't', cast_json=True)}) IS DISTINCT FROM "
                    f"({_listed(table, names, 's', cast_json=True)})"
                )

            stamp_sql = (
                f"CASE WHEN {differ(update)} THEN %s ELSE t.computed_at END" if untimed else "%s"
            )
            cursor.execute(
                f"UPDATE {target} t SET {assignments}, computed_at = {stamp_sql} "
                f"FROM {staging} s WHERE {match}{bounds} AND {differ(written)}",
                [value, *bound_values],
            )
        if changes.inserting:
            assignments = ", ".join(
                f"{name} = EXCLUDED.{name}" for name in (*update, *untimed, "computed_at")
            )
            # ON CONFLICT is a safety net only: runs over the same cycles are serialised.
            cursor.execute(
                f"INSERT INTO {target} ({listed}, computed_at) "
                f"SELECT {listed}, %s FROM {staging} s WHERE NOT EXISTS "
                f"(SELECT 1 FROM {target} t WHERE {match}{bounds}) "
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}",
                [value, *bound_values],
            )
        cursor.execute(f"DROP TABLE pg_temp.{staging}")
    finally:
        cursor.close()


def _cursor(connection: Connection) -> psycopg.Cursor[Any]:
    # Typed as psycopg's for COPY; on SQLite the same few calls exist on sqlite3's cursor.
    dbapi = connection.connection.dbapi_connection
    return cast("psycopg.Cursor[Any]", dbapi.cursor())  # type: ignore[union-attr]


def _listed(table: Table, names: Sequence[str], alias: str = "", *, cast_json: bool) -> str:
    # json has no equality operator on PostgreSQL; its text is what was written, so use that.
    prefix = f"{alias}." if alias else ""
    return ", ".join(
        f"{prefix}{name}::text"
        if cast_json and isinstance(table.c[name].type, JSON)
        else f"{prefix}{name}"
        for name in names
    )
