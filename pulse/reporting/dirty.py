"""Marking team × cycle aggregates stale, in the same transaction as the change."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Select, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter

from pulse.reporting.models import DirtyTeamCycle

_dirty = cast(Table, DirtyTeamCycle.__table__)
# Every submit marks its team, so the statement is built once per dialect, not per call.
# Concurrent submits for the same team and cycle must not fail on the primary key, so the
# mark is an INSERT … ON CONFLICT DO NOTHING. Its parameters are named, so the submit path can
# run it with the other writes' values or fold it into one statement with them.
_VALUES: dict[str, BindParameter[Any]] = {
    "team_id": bindparam("team_id"),
    "cycle_id": bindparam("cycle_id"),
}
_MARK = {
    "postgresql": postgresql.insert(_dirty).values(_VALUES).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(_dirty).values(_VALUES).on_conflict_do_nothing(),
}


def mark_dirty_statement(dialect_name: str) -> Insert:
    """The mark as a statement with `team_id` and `cycle_id` parameters, for batched writes."""
    return _MARK[dialect_name]


def mark_dirty_from(source: Select[Any]) -> Insert:
    """PostgreSQL: the mark for the (team_id, cycle_id) rows `source` yields, so that a write
    folded into one statement can mark only if it happened."""
    return postgresql.insert(_dirty).from_select(list(_VALUES), source).on_conflict_do_nothing()


def mark_dirty(session: Session, *, team_id: int, cycle_id: int) -> None:
    """Record that the team's aggregates for the cycle need recomputing."""
    session.flush()  # a team or cycle created in this session must exist first
    connection = session.connection()
    connection.execute(
        mark_dirty_statement(connection.dialect.name), {"team_id": team_id, "cycle_id": cycle_id}
    )
