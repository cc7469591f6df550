"""The one place the dashboard reads reporting data: the reporting query API, nothing else."""

from __future__ import annotations

import inspect
from typing import Any

from sqlalchemy.orm import Session

try:
    from pulse.reporting.queries import (
        comment_rows,
        compare_rows,
        cycles_for,
        export_rows,
        item_rows,
        latest_closed_cycle_id,
        participation_rows,
        theme_rows,
    )
except ImportError:  # the reporting API is being rewritten; same names and shapes meanwhile
    from dashboard.interim_queries import (  # type: ignore[assignment]
        comment_rows,
        compare_rows,
        cycles_for,
        export_rows,
        item_rows,
        latest_closed_cycle_id,
        participation_rows,
        theme_rows,
    )


def anchor_item_rows(
    session: Session, *, team_id: int, threshold: int, cycle_ids: list[int]
) -> list[Any]:
    """The anchor items' rows of one team across cycles (one query where the API allows)."""
    if not cycle_ids:
        return []
    if "cycle_ids" in inspect.signature(item_rows).parameters:
        rows = item_rows(session, team_ids=[team_id], threshold=threshold, cycle_ids=cycle_ids)
    else:
        rows = [
            row
            for cycle_id in cycle_ids
            for row in item_rows(
                session, team_ids=[team_id], threshold=threshold, cycle_id=cycle_id
            )
        ]
    return [row for row in rows if row.item_code.endswith(".anchor")]


__all__ = [
    "anchor_item_rows",
    "comment_rows",
    "compare_rows",
    "cycles_for",
    "export_rows",
    "item_rows",
    "latest_closed_cycle_id",
    "participation_rows",
    "theme_rows",
]
