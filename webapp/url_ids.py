"""Ids in URLs are row ids: a number no row can have is not found, never sent to the database."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

# Row ids are 32-bit integer keys on PostgreSQL (and the API's MAX_ID): beyond this no row
# exists. Without a bound, SQLite could not even bind 2**63 and the page answered 500.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: a whole number up to MAX_ROW_ID, else no match (404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)
