"""Reporting queries: the only way reports read aggregates, always filtered to visible teams."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.reporting.models import ThemeAggregate
from pulse.surveys.models import Cycle
from pulse.teams.models import Team


@dataclass(frozen=True)
class ThemeScoreRow:
    """One group's theme score in one cycle as a report may show it."""

    team_id: int
    team: str
    cycle_id: int
    cycle_opened: str
    theme: str
    n: int | None
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool


def latest_closed_cycle_id(session: Session, *, team_ids: set[int]) -> int | None:
    """The most recent closed cycle with aggregates for any of the given teams."""
    return session.scalar(
        select(Cycle.id)
        .join(ThemeAggregate, ThemeAggregate.cycle_id == Cycle.id)
        .where(Cycle.status == "closed", ThemeAggregate.team_id.in_(team_ids))
        .order_by(Cycle.opens_at.desc())
        .limit(1)
    )


def theme_scores(session: Session, *, team_ids: set[int], cycle_id: int) -> list[ThemeScoreRow]:
    """Theme scores of the given teams in one cycle; suppressed rows carry no figures."""
    if not team_ids:
        return []
    rows = session.execute(
        select(ThemeAggregate, Team.name, Cycle.opens_at)
        .join(Team, Team.id == ThemeAggregate.team_id)
        .join(Cycle, Cycle.id == ThemeAggregate.cycle_id)
        .where(ThemeAggregate.cycle_id == cycle_id, ThemeAggregate.team_id.in_(team_ids))
        .order_by(func.lower(Team.name), ThemeAggregate.theme)
    ).all()
    result = []
    for aggregate, team_name, opened in rows:
        hidden = aggregate.suppressed
        result.append(
            ThemeScoreRow(
                team_id=aggregate.team_id,
                team=team_name,
                cycle_id=aggregate.cycle_id,
                cycle_opened=opened.date().isoformat(),
                theme=aggregate.theme,
                n=None if hidden else aggregate.n,
                mean=None if hidden else aggregate.mean,
                ci_low=None if hidden else aggregate.ci_low,
                ci_high=None if hidden else aggregate.ci_high,
                suppressed=hidden,
            )
        )
    return result
