"""Writing aggregates in bulk as upserts, so a rerun rewrites the same rows in place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from pulse.db import dialect_insert

# PostgreSQL array types for unnest(); a column missing here is not written through unnest.
_PG_TYPES = {
    "team_id": "integer",
    "cycle_id": "integer",
    "item_id": "integer",
    "theme": "text",
    "n": "integer",
    "invited": "integer",
    "responded": "integer",
    "favourable_n": "integer",
    "mean": "double precision",
    "sd": "double precision",
    "ci_low": "double precision",
    "ci_high": "double precision",
    "favourable_pct": "double precision",
    "fav_low": "double precision",
    "fav_high": "double precision",
    "top2_pct": "double precision",
    "change_p": "double precision",
    "delta": "double precision",
    "change": "text",
    "item_set": "text",
    "distribution": "json",
    "suppressed": "boolean",
    "final": "boolean",
}
_PG_CHUNK = 50000
_SEPARATOR = chr(30)  # ASCII record separator: never inside a figure, name or JSON
_NULL = "NULL"


def clean(values: Iterable[Any]) -> list[Any]:
    """Python scalars with NaN as None (NULL): databases must never hold a NaN figure."""
    array = np.asarray(values if isinstance(values, np.ndarray) else list(values))
    if array.dtype.kind == "f":
        return [None if v != v else v for v in array.tolist()]
    return list(array.tolist())


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

    On PostgreSQL each column travels as one delimited text that string_to_array() and
    unnest() turn back into rows, one statement per 50,000 rows; SQLite takes an executemany
    of the same upsert on the DBAPI cursor.
    """
    names = list(columns)
    count = len(columns[names[0]]) if names else 0
    if count == 0:
        return 0
    insert = dialect_insert(session, table)
    set_ = {name: insert.excluded[name] for name in (*update, "computed_at")}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for start in range(0, count, _PG_CHUNK):
            params: dict[str, Any] = {"computed_at": computed_at}
            arrays = []
            for name in names:
                chunk = columns[name][start : start + _PG_CHUNK]
                # One text value per column, split by the server: psycopg's array dumper
                # quotes element by element and costs more than the upsert itself.
                params[name] = _SEPARATOR.join(_NULL if v is None else str(v) for v in chunk)
                kind = _PG_TYPES[name]
                cast = "text[])::json[]" if kind == "json" else f"{kind}[])"
                arrays.append(f"CAST(string_to_array(:{name}, chr(30), '{_NULL}') AS {cast}")
            source = text(
                f"SELECT v.*, CAST(:computed_at AS timestamptz) FROM unnest({', '.join(arrays)}) "
                f"AS v({', '.join(names)})"
            ).columns(*[table.c[name] for name in names], table.c.computed_at)
            statement = insert.from_select([*names, "computed_at"], source)
            connection.execute(
                statement.on_conflict_do_update(index_elements=list(keys), set_=set_), params
            )
        return count
    # SQLite: one executemany on the DBAPI cursor. The values are already plain Python
    # scalars, so only the few columns whose type converts them (timestamps) are processed.
    statement = insert.on_conflict_do_update(index_elements=list(keys), set_=set_)
    compiled = statement.compile(
        dialect=connection.dialect,
        column_keys=[*names, "computed_at"],
    )
    stamp = table.c.computed_at.type.bind_processor(connection.dialect)
    value = stamp(computed_at) if stamp else computed_at
    # sqlite3's own datetime adapter writes isoformat(" "); doing it once saves a call a row.
    value = value.isoformat(" ") if isinstance(value, datetime) else value
    order = compiled.positiontup or []
    rows = list(
        zip(
            *(columns[name] if name in columns else repeat(value, count) for name in order),
            strict=True,
        )
    )
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(str(compiled), rows)
    finally:
        cursor.close()
    return count
