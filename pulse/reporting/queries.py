"""Reporting queries: the only way reports read aggregates, and where suppression is applied.

This module is the one door the dashboard, the CSV downloads and the export go through; the
queries themselves live by concept: theme scores and the team-vs-rest comparison in
pulse.reporting.themes, participation in pulse.reporting.participation, items, anchors and
comments in pulse.reporting.detail.

Every function takes the team ids the caller may see (pulse.teams.service.visible_team_ids)
and the threshold k in force (pulse.organisation.service.threshold). Each cycle is reported
on its own tree, the snapshot taken when it opened, at its own thresholds (locked when it
opened, raised by later settings). Suppression is decided over the cycle's WHOLE tree
whatever the caller may see, so every viewer gets the same hidden set: once per cycle by the
aggregation run that wrote it (pulse.reporting.stamps), and trusted only while that cycle's
stamp matches its k and tree; any other cycle is decided here, on the read, from every
group's stored count, so raising k applies to the next read. A suppressed row carries no n,
mean, interval, distribution or change flag, and is also returned where a group was surveyed
but nobody answered, so "few" and "none" look the same.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session

from pulse.delivery.models import Invitation
from pulse.reporting.context import ReportContext
from pulse.reporting.detail import anchor_rows, comment_rows, item_rows
from pulse.reporting.models import ThemeAggregate
from pulse.reporting.participation import participation_rows
from pulse.reporting.pattern import (
    state_text,
)
from pulse.reporting.rows import (
    AnchorRow,
    CommentRow,
    CycleRow,
    ItemRow,
    ParticipationRow,
    ThemeRow,
)
from pulse.reporting.themes import compare_rows, theme_rows
from pulse.surveys.models import Cycle, Item

__all__ = [
    "AnchorRow",
    "CommentRow",
    "CycleRow",
    "ItemRow",
    "ParticipationRow",
    "ReportContext",
    "ThemeRow",
    "anchor_rows",
    "comment_rows",
    "compare_rows",
    "cycles_for",
    "export_rows",
    "item_rows",
    "latest_closed_cycle_id",
    "participation_rows",
    "reverse_worded",
    "state_text",
    "theme_rows",
    "was_surveyed",
]


# The dashboard asks these on every request: each is built once, with its values bound when
# it runs (pulse.reporting.fast, "Statements built once").
_TEAMS: BindParameter[list[int]] = bindparam("teams", expanding=True)


def _reported_in(cycle: Any) -> Any:
    """Whether cycle `cycle` surveyed (or has results for) any of the teams bound as `teams`:
    per cycle, an index probe per team that stops at the first found, rather than every
    team's row of every cycle (an organisation-wide view asks about a thousand teams × every
    cycle)."""
    invited = (
        select(Invitation.id)
        .where(Invitation.cycle_id == cycle, Invitation.team_id.in_(_TEAMS))
        .exists()
    )
    reported = (
        select(ThemeAggregate.team_id)
        .where(ThemeAggregate.cycle_id == cycle, ThemeAggregate.team_id.in_(_TEAMS))
        .exists()
    )
    return invited | reported


_CYCLES_FOR = (
    select(Cycle.id, Cycle.opens_at, Cycle.status)
    .where(_reported_in(Cycle.id))
    .order_by(Cycle.opens_at.desc())
)
_WAS_SURVEYED = select(_reported_in(bindparam("cycle")))
_LATEST_CLOSED = (
    select(Cycle.id)
    .where(
        Cycle.status == "closed",
        select(ThemeAggregate.team_id)
        .where(ThemeAggregate.cycle_id == Cycle.id, ThemeAggregate.team_id.in_(_TEAMS))
        .exists(),
    )
    .order_by(Cycle.opens_at.desc())
    .limit(1)
)
_REVERSE_WORDED = select(Item.code, Item.version).where(Item.reverse.is_(True))


def cycles_for(session: Session, *, team_ids: Collection[int]) -> list[CycleRow]:
    """Cycles the given teams were surveyed in (or have results for), newest first."""
    if not team_ids:
        return []
    found = session.execute(_CYCLES_FOR, {"teams": sorted(team_ids)})
    return [CycleRow(id=i, opened=o.date(), status=s) for i, o, s in found]


def was_surveyed(session: Session, *, team_ids: Collection[int], cycle_id: int) -> bool:
    """Whether any of the teams was surveyed in (or has results for) the cycle: whether the
    cycle is one of their cycles_for."""
    return bool(session.scalar(_WAS_SURVEYED, {"cycle": cycle_id, "teams": sorted(team_ids)}))


def latest_closed_cycle_id(session: Session, *, team_ids: Collection[int]) -> int | None:
    """The most recent closed cycle with aggregates for any of the given teams."""
    if not team_ids:
        return None
    return session.scalar(_LATEST_CLOSED, {"teams": sorted(team_ids)})


def export_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    since: date | datetime | None = None,
) -> list[dict[str, Any]]:
    """The rows `pulse report export` and the dashboard download give: plain JSON values."""
    return [
        {
            "team": row.team,
            "parent": row.parent,
            "cycle": row.cycle_opened.isoformat(),
            "cycle_id": row.cycle_id,
            "theme": row.theme,
            "n": row.n,
            "mean": row.mean,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "favourable_pct": row.favourable_pct,
            "fav_low": row.fav_low,
            "fav_high": row.fav_high,
            "change": row.change,
            # What the change test compared, null where none was made or the row is hidden.
            "delta": row.delta,
            "delta_low": row.delta_low,
            "delta_high": row.delta_high,
            "window": None
            if row.window_n is None
            else {"cycles": row.window_cycles, "n": row.window_n},
            "baseline": None
            if row.baseline_n is None
            else {"cycles": row.baseline_cycles, "n": row.baseline_n, "mean": row.baseline_mean},
            "suppressed": row.suppressed,
            "reason": row.reason,
            "state": row.state,
        }
        for row in theme_rows(session, team_ids=team_ids, threshold=threshold, since=since)
    ]


def reverse_worded(session: Session) -> frozenset[tuple[str, int]]:
    """The (code, version) of every reverse-worded item: agreeing with it is unfavourable, so
    its favourable share counts the answers at 1–2 (INSTRUMENT.md: reverse coding)."""
    return frozenset((code, version) for code, version in session.execute(_REVERSE_WORDED))
