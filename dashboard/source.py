"""The one place the dashboard reads reporting data: the reporting query API, nothing else."""

from __future__ import annotations

from pulse.reporting.queries import (
    ReportContext,
    anchor_rows,
    comment_rows,
    compare_rows,
    cycles_for,
    export_rows,
    item_rows,
    latest_closed_cycle_id,
    participation_rows,
    reverse_worded,
    theme_rows,
    was_surveyed,
)

__all__ = [
    "ReportContext",
    "anchor_rows",
    "comment_rows",
    "compare_rows",
    "cycles_for",
    "export_rows",
    "item_rows",
    "latest_closed_cycle_id",
    "participation_rows",
    "reverse_worded",
    "theme_rows",
    "was_surveyed",
]
