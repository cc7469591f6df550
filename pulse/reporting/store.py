"""Writing aggregates in bulk as upserts, so a rerun rewrites the same rows in place."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

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
_SQLITE_CHUNK = 5000
_PG_CHUNK = 50000


def clean(values: Iterable[Any]) -> list[Any]:
    """Python scalars with NaN as None (NULL): databases must never hold a NaN figure."""
    out: list[Any] = []
    for value in values:
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            value = None
        out.append(value)
    return out


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

    On PostgreSQL the rows travel as one array per column and unnest() turns them back into
    rows, one statement per 50,000 rows; SQLite takes an executemany of the same upsert.
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
                if name == "distribution":
                    chunk = [json.dumps(value) for value in chunk]
                    arrays.append(f"CAST(:{name} AS text[])::json[]")
                else:
                    arrays.append(f"CAST(:{name} AS {_PG_TYPES[name]}[])")
                params[name] = chunk
            source = text(
                f"SELECT v.*, CAST(:computed_at AS timestamptz) FROM unnest({', '.join(arrays)}) "
                f"AS v({', '.join(names)})"
            ).columns(*[table.c[name] for name in names], table.c.computed_at)
            statement = insert.from_select([*names, "computed_at"], source)
            connection.execute(
                statement.on_conflict_do_update(index_elements=list(keys), set_=set_), params
            )
        return count
    statement = insert.on_conflict_do_update(index_elements=list(keys), set_=set_)
    rows = [
        dict(zip(names, values, strict=True), computed_at=computed_at)
        for values in zip(*(columns[name] for name in names), strict=True)
    ]
    for start in range(0, count, _SQLITE_CHUNK):
        connection.execute(statement, rows[start : start + _SQLITE_CHUNK])
    return count
