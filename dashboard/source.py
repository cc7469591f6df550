"""The one place the dashboard reads reporting data: the reporting query API, nothing else."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pulse.reporting.queries import (
    ItemRow,
    ReportContext,
    comment_rows,
    compare_rows,
    cycles_for,
    export_rows,
    item_rows,
    latest_closed_cycle_id,
    participation_rows,
    theme_rows,
    was_surveyed,
)


def anchor_item_rows(
    session: Session,
    *,
    team_id: int,
    threshold: int,
    cycle_ids: list[int],
    context: ReportContext | None = None,
) -> list[ItemRow]:
    """The anchor items' rows of one team across cycles, in one query."""
    if not cycle_ids:
        return []
    return item_rows(
        session,
        team_ids=[team_id],
        threshold=threshold,
        cycle_ids=cycle_ids,
        anchors_only=True,
        context=context,
    )


__all__ = [
    "ReportContext",
    "anchor_item_rows",
    "comment_rows",
    "compare_rows",
    "cycles_for",
    "export_rows",
    "item_rows",
    "latest_closed_cycle_id",
    "participation_rows",
    "theme_rows",
    "was_surveyed",
]
