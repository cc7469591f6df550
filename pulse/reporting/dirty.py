"""Marking team × cycle aggregates stale, in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pulse.db import dialect_insert
from pulse.reporting.models import DirtyTeamCycle


def mark_dirty(session: Session, *, team_id: int, cycle_id: int) -> None:
    """Record that the team's aggregates for the cycle need recomputing.

    Concurrent submits for the same team and cycle must not fail on the primary key, so the
    mark is an INSERT … ON CONFLICT DO NOTHING.
    """
    statement = dialect_insert(session, DirtyTeamCycle).values(team_id=team_id, cycle_id=cycle_id)
    session.execute(statement.on_conflict_do_nothing())
