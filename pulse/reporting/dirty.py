"""Marking team × cycle aggregates stale, in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.reporting.models import DirtyTeamCycle


def mark_dirty(session: Session, *, team_id: int, cycle_id: int) -> None:
    """Record that the team's aggregates for the cycle need recomputing (idempotent)."""
    exists = session.scalar(
        select(DirtyTeamCycle).where(
            DirtyTeamCycle.team_id == team_id, DirtyTeamCycle.cycle_id == cycle_id
        )
    )
    if exists is None:
        session.add(DirtyTeamCycle(team_id=team_id, cycle_id=cycle_id))
        session.flush()
