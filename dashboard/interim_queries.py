"""Stand-in for the reporting query API until pulse.reporting.queries provides it.

Same names, arguments and row shapes as the agreed interface, so `dashboard.source` switches to
the real module by import alone; delete this file once the real queries have landed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from pulse.answers.models import Comment, Response
from pulse.confidentiality import suppressed_reason
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.surveys.models import Cycle, Item
from pulse.teams.models import Team
from pulse.teams.service import ancestor_ids


@dataclass(frozen=True)
class ThemeRow:
    team_id: int
    team: str
    parent: str | None
    cycle_id: int
    cycle_opened: date
    theme: str
    n: int | None
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    favourable_pct: float | None
    fav_low: float | None
    fav_high: float | None
    change: str | None
    suppressed: bool
    reason: str | None


@dataclass(frozen=True)
class ParticipationRow:
    team_id: int
    team: str
    cycle_id: int
    invited: int
    responded: int
    rate: float | None


@dataclass(frozen=True)
class ItemRow:
    team_id: int
    cycle_id: int
    item_code: str
    item_version: int
    wording: str
    theme: str
    n: int | None
    distribution: dict[str, int] | None
    top2_pct: float | None
    suppressed: bool


@dataclass(frozen=True)
class CommentRow:
    theme: str | None
    body: str


@dataclass(frozen=True)
class CycleRow:
    id: int
    opened: date
    status: str


def _theme_row(agg: ThemeAggregate, team: str, parent: str | None, opened: Any, k: int) -> ThemeRow:
    hidden = agg.suppressed or agg.n < k
    return ThemeRow(
        team_id=agg.team_id,
        team=team,
        parent=parent,
        cycle_id=agg.cycle_id,
        cycle_opened=opened.date(),
        theme=agg.theme,
        n=None if hidden else agg.n,
        mean=None if hidden else agg.mean,
        ci_low=None if hidden else agg.ci_low,
        ci_high=None if hidden else agg.ci_high,
        favourable_pct=None if hidden else agg.favourable_pct,
        fav_low=None if hidden else agg.fav_low,
        fav_high=None if hidden else agg.fav_high,
        change=None if hidden else agg.change,
        suppressed=hidden,
        reason=suppressed_reason(k) if hidden else None,
    )


def theme_rows(
    session: Session,
    *,
    team_ids: set[int] | list[int],
    threshold: int,
    cycle_ids: list[int] | None = None,
    since: date | None = None,
) -> list[ThemeRow]:
    if not team_ids:
        return []
    parent = aliased(Team)
    query = (
        select(ThemeAggregate, Team.name, parent.name, Cycle.opens_at)
        .join(Team, Team.id == ThemeAggregate.team_id)
        .outerjoin(parent, parent.id == Team.parent_id)
        .join(Cycle, Cycle.id == ThemeAggregate.cycle_id)
        .where(ThemeAggregate.team_id.in_(list(team_ids)))
        .order_by(func.lower(Team.name), Cycle.opens_at, ThemeAggregate.theme)
    )
    if cycle_ids is not None:
        query = query.where(ThemeAggregate.cycle_id.in_(cycle_ids))
    if since is not None:
        query = query.where(Cycle.opens_at >= datetime.combine(since, time(), tzinfo=UTC))
    return [_theme_row(a, t, p, o, threshold) for a, t, p, o in session.execute(query)]


def participation_rows(
    session: Session,
    *,
    team_ids: set[int] | list[int],
    threshold: int,
    cycle_ids: list[int] | None = None,
) -> list[ParticipationRow]:
    if not team_ids:
        return []
    query = (
        select(Participation, Team.name)
        .join(Team, Team.id == Participation.team_id)
        .join(Cycle, Cycle.id == Participation.cycle_id)
        .where(Participation.team_id.in_(list(team_ids)))
        .order_by(func.lower(Team.name), Cycle.opens_at)
    )
    if cycle_ids is not None:
        query = query.where(Participation.cycle_id.in_(cycle_ids))
    return [
        ParticipationRow(
            team_id=p.team_id,
            team=name,
            cycle_id=p.cycle_id,
            invited=p.invited,
            responded=p.responded,
            rate=p.responded / p.invited if p.invited >= threshold else None,
        )
        for p, name in session.execute(query)
    ]


def item_rows(
    session: Session,
    *,
    team_ids: set[int] | list[int],
    threshold: int,
    cycle_id: int | None = None,
    cycle_ids: list[int] | None = None,
) -> list[ItemRow]:
    if not team_ids:
        return []
    wanted = [cycle_id] if cycle_id is not None else list(cycle_ids or [])
    query = (
        select(ItemAggregate, Item)
        .join(Item, Item.id == ItemAggregate.item_id)
        .where(ItemAggregate.team_id.in_(list(team_ids)), ItemAggregate.cycle_id.in_(wanted))
        .order_by(Item.theme, Item.is_anchor.desc(), Item.code)
    )
    rows = []
    for agg, item in session.execute(query):
        hidden = agg.suppressed or agg.n < threshold
        rows.append(
            ItemRow(
                team_id=agg.team_id,
                cycle_id=agg.cycle_id,
                item_code=item.code,
                item_version=item.version,
                wording=item.wording,
                theme=item.theme,
                n=None if hidden else agg.n,
                distribution=None if hidden else dict(agg.distribution),
                top2_pct=None if hidden else agg.top2_pct,
                suppressed=hidden,
            )
        )
    return rows


def comment_rows(
    session: Session, *, team_id: int, cycle_id: int, threshold: int, rng: random.Random
) -> list[CommentRow]:
    respondents = session.scalar(
        select(func.count()).where(Response.team_id == team_id, Response.cycle_id == cycle_id)
    )
    comments = list(
        session.execute(
            select(Comment.theme, Comment.body).where(
                Comment.team_id == team_id, Comment.cycle_id == cycle_id
            )
        ).tuples()
    )
    if (respondents or 0) < threshold:
        return []
    kept = [CommentRow(theme=theme, body=body.strip()) for theme, body in comments if body.strip()]
    rng.shuffle(kept)
    return kept


def compare_rows(
    session: Session, *, team_id: int, cycle_id: int, threshold: int
) -> list[ThemeRow]:
    chain = [team_id, *ancestor_ids(session, team_id=team_id)]
    rows = theme_rows(session, team_ids=chain, threshold=threshold, cycle_ids=[cycle_id])
    order = {group: i for i, group in enumerate(chain)}
    return sorted(rows, key=lambda r: (order[r.team_id], r.theme))


def cycles_for(session: Session, *, team_ids: set[int] | list[int]) -> list[CycleRow]:
    if not team_ids:
        return []
    query = (
        select(Cycle.id, Cycle.opens_at, Cycle.status)
        .where(
            Cycle.id.in_(
                select(ThemeAggregate.cycle_id).where(ThemeAggregate.team_id.in_(list(team_ids)))
            )
        )
        .order_by(Cycle.opens_at.desc())
    )
    return [CycleRow(id=i, opened=o.date(), status=s) for i, o, s in session.execute(query)]


def latest_closed_cycle_id(session: Session, *, team_ids: set[int] | list[int]) -> int | None:
    if not team_ids:
        return None
    return session.scalar(
        select(Cycle.id)
        .join(ThemeAggregate, ThemeAggregate.cycle_id == Cycle.id)
        .where(Cycle.status == "closed", ThemeAggregate.team_id.in_(list(team_ids)))
        .order_by(Cycle.opens_at.desc())
        .limit(1)
    )


def export_rows(
    session: Session, *, team_ids: set[int] | list[int], threshold: int, since: date | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "team": r.team,
            "cycle_opened": r.cycle_opened.isoformat(),
            "theme": r.theme,
            "n": r.n,
            "mean": r.mean,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "favourable_pct": r.favourable_pct,
            "change": r.change,
            "note": r.reason or "",
        }
        for r in theme_rows(session, team_ids=team_ids, threshold=threshold, since=since)
    ]
