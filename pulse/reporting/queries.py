"""Reporting queries: the only way reports read aggregates, and where suppression is applied.

Every function takes the team ids the caller may see (pulse.teams.service.visible_team_ids)
and the threshold k in force (pulse.organisation.service.threshold). Suppression is decided
over the WHOLE team tree whatever the caller may see, so every viewer gets the same hidden
set: once per cycle by the aggregation run that wrote it (pulse.reporting.stamps), and
trusted only while that cycle's stamp matches k and the tree; any other cycle is decided
here, on the read, from every group's stored count, so a change of k or of the tree applies
to the next read. A suppressed row carries no n, mean, interval, distribution or change
flag, and is also returned where a group was surveyed but nobody answered, so "few" and
"none" look the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment, Response
from pulse.confidentiality import (
    round_mean,
    round_pct,
    suppressed_reason,
    team_vs_rest,
    validate_threshold,
)
from pulse.delivery.models import Invitation
from pulse.instrument import THEMES
from pulse.reporting.change import comparison_cycles
from pulse.reporting.compute import TeamTree, marks, run_sql
from pulse.reporting.context import ReportContext
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.reporting.rest import ThemeFigures, rest_of_organisation
from pulse.reporting.rows import (
    AnchorRow,
    CommentRow,
    CycleRow,
    ItemRow,
    ParticipationRow,
    ThemeRow,
)
from pulse.reporting.suppression import hidden_by_cell, hidden_groups
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
    "theme_rows",
    "was_surveyed",
]


def _context(session: Session, threshold: int, context: ReportContext | None) -> ReportContext:
    if context is None:
        return ReportContext.load(session, threshold=threshold)
    context.check(threshold)
    return context


def _opened(
    session: Session, cycle_ids: Collection[int], context: ReportContext
) -> dict[int, datetime]:
    """When each cycle opened; a report's queries ask about the same cycles, so it is kept."""
    known = context.opened
    missing = [c for c in cycle_ids if c not in known]
    if missing:
        query = select(Cycle.id, Cycle.opens_at).where(Cycle.id.in_(missing))
        known.update((cycle_id, opened) for cycle_id, opened in session.execute(query))
    return {c: known[c] for c in cycle_ids if c in known}


def _r1(value: float | None) -> float | None:
    return None if value is None else round_mean(value)


def _pct(value: float | None) -> int | None:
    return None if value is None else round_pct(value)


def _theme_row(
    agg: ThemeFigures | None,
    *,
    team_id: int,
    cycle_id: int,
    theme: str,
    names: dict[int, tuple[str, int | None]],
    opened: datetime,
    hidden: bool,
    change: str | None,
    k: int,
) -> ThemeRow:
    name, parent = names[team_id]
    parent_name = names[parent][0] if parent is not None else None
    if agg is None or hidden:
        # Hidden or never answered: the same row either way, with no figure at all.
        return ThemeRow(
            team_id=team_id,
            team=name,
            parent=parent_name,
            cycle_id=cycle_id,
            cycle_opened=opened.date(),
            theme=theme,
            n=None,
            mean=None,
            ci_low=None,
            ci_high=None,
            favourable_pct=None,
            fav_low=None,
            fav_high=None,
            change=None,
            suppressed=True,
            reason=suppressed_reason(k),
        )
    return ThemeRow(
        team_id=team_id,
        team=name,
        parent=parent_name,
        cycle_id=cycle_id,
        cycle_opened=opened.date(),
        theme=theme,
        n=agg.n,
        mean=_r1(agg.mean),
        ci_low=_r1(agg.ci_low),
        ci_high=_r1(agg.ci_high),
        favourable_pct=_pct(agg.favourable_pct),
        fav_low=_pct(agg.fav_low),
        fav_high=_pct(agg.fav_high),
        change=change,
        suppressed=False,
        reason=None,
    )


_NONE: frozenset[int] = frozenset()
Decided = dict[Any, frozenset[int]]
# Whether a group's figure in a cell must be hidden: (team, cycle, theme or item) -> bool.
IsHidden = Callable[[int, int, Any], bool]


# What a report reads of a stored aggregate: the figures it may show, what the "rest of the
# organisation" needs to subtract, and the stored suppression decision.
_SHOWN_FIGURES = (
    "team_id",
    "cycle_id",
    "theme",
    "n",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "favourable_n",
    "favourable_pct",
    "fav_low",
    "fav_high",
    "change",
    "suppressed",
)


def _decider(
    session: Session,
    *,
    context: ReportContext,
    cycles: list[int],
    model: Any,
    cell: Any,
    count: Any,
) -> Callable[[int, int, Any, bool], bool]:
    """Whether a group's figure in a cell is hidden, given its stored flag.

    A cell is a cycle and, when `cell` names a column, its value (a theme, an item). Stamped
    cycles carry the decision in the rows' flags; the others are decided here over the whole
    tree from every group's `count`, as the stamp would have been.
    """
    stamped = context.stamped(session, cycles)
    unstamped = [c for c in cycles if c not in stamped]
    decided: Decided = {}
    if unstamped:
        columns = [model.team_id, model.cycle_id, count, *([] if cell is None else [cell])]
        found = session.execute(select(*columns).where(model.cycle_id.in_(unstamped)))
        decided = hidden_by_cell(
            context.tree.parents,
            ((c if cell is None else (c, rest[0]), g, n) for g, c, n, *rest in found),
            context.k,
        )

    def hidden(team_id: int, cycle_id: int, value: Any, stored: bool) -> bool:
        if cycle_id in stamped:
            return bool(stored)
        return team_id in decided.get(cycle_id if cell is None else (cycle_id, value), _NONE)

    return hidden


def _theme_cells(
    session: Session,
    *,
    cycle_ids: Collection[int],
    context: ReportContext,
    team_ids: Collection[int],
) -> tuple[dict[tuple[int, int, str], Row[Any]], IsHidden]:
    """The given groups' aggregates in these cycles and whether each is hidden (a group
    without an aggregate has nothing to show)."""
    cycles = sorted(set(cycle_ids))
    decide = _decider(
        session,
        context=context,
        cycles=cycles,
        model=ThemeAggregate,
        cell=ThemeAggregate.theme,
        count=ThemeAggregate.n,
    )
    figures = [getattr(ThemeAggregate, name) for name in _SHOWN_FIGURES]
    aggregates = {
        (row.team_id, row.cycle_id, row.theme): row
        for row in session.execute(
            select(*figures).where(
                ThemeAggregate.cycle_id.in_(cycles), ThemeAggregate.team_id.in_(sorted(team_ids))
            )
        )
    }

    def hidden(team_id: int, cycle_id: int, theme: Any) -> bool:
        row = aggregates.get((team_id, cycle_id, theme))
        return row is None or decide(team_id, cycle_id, theme, row.suppressed)

    return aggregates, hidden


def _invited(
    session: Session, *, team_ids: Collection[int], cycle_ids: Collection[int]
) -> set[tuple[int, int]]:
    """(team, cycle) pairs with participation counts: invited there, answered or not."""
    return set(
        session.execute(
            select(Participation.team_id, Participation.cycle_id).where(
                Participation.team_id.in_(list(team_ids)),
                Participation.cycle_id.in_(list(cycle_ids)),
            )
        )
    )


def _cycles(
    session: Session, *, team_ids: Collection[int], cycle_ids: Collection[int] | None, since: Any
) -> list[int]:
    if cycle_ids is not None:
        return list(cycle_ids)
    ids = list(team_ids)
    # Each half reads an index that starts with the team (participation's key, the
    # aggregates' unique key).
    found = (
        select(Participation.cycle_id)
        .where(Participation.team_id.in_(ids))
        .union(select(ThemeAggregate.cycle_id).where(ThemeAggregate.team_id.in_(ids)))
    )
    query = select(Cycle.id).where(Cycle.id.in_(found.scalar_subquery()))
    if since is not None:
        if isinstance(since, datetime):
            start = since if since.tzinfo else since.replace(tzinfo=UTC)
        else:
            start = datetime.combine(since, time.min, tzinfo=UTC)
        query = query.where(Cycle.opens_at >= start)
    return list(session.scalars(query))


@dataclass(frozen=True)
class _ThemeReport:
    rows: list[ThemeRow]
    aggregates: dict[tuple[int, int, str], Row[Any]]
    hidden: IsHidden
    names: dict[int, tuple[str, int | None]]
    opened: dict[int, datetime]


def _theme_report(
    session: Session, *, team_ids: Collection[int], context: ReportContext, cycles: list[int]
) -> _ThemeReport:
    k, names = context.k, context.names(session)
    compared = comparison_cycles(session, cycle_ids=set(cycles))
    wanted = set(cycles) | set(compared.values())
    aggregates, hidden = _theme_cells(session, cycle_ids=wanted, context=context, team_ids=team_ids)
    opened = _opened(session, cycles, context)
    themes_of: dict[int, set[str]] = {}
    for cycle_id, theme in run_sql(
        session,
        "SELECT DISTINCT ci.cycle_id, i.theme FROM cycle_items ci JOIN items i "
        f"ON i.id = ci.item_id WHERE ci.cycle_id IN ({marks(len(cycles))})",
        cycles,
    ):
        themes_of.setdefault(cycle_id, set()).add(theme)
    for _, cycle_id, theme in aggregates:
        themes_of.setdefault(cycle_id, set()).add(theme)
    # A row is due wherever the group was invited or has figures (hidden ones included).
    due = _invited(session, team_ids=team_ids, cycle_ids=cycles)
    due.update((team_id, cycle_id) for team_id, cycle_id, _ in aggregates if cycle_id in opened)
    rows = []
    for team_id, cycle_id in due:
        for theme in THEMES:
            if theme not in themes_of.get(cycle_id, ()):
                continue
            agg = aggregates.get((team_id, cycle_id, theme))
            before = compared.get((cycle_id, theme))
            # A flag against an earlier figure that is hidden now would hint at that figure.
            change = agg.change if agg is not None else None
            if before is not None and hidden(team_id, before, theme):
                change = None
            rows.append(
                _theme_row(
                    agg,
                    team_id=team_id,
                    cycle_id=cycle_id,
                    theme=theme,
                    names=names,
                    opened=opened[cycle_id],
                    hidden=hidden(team_id, cycle_id, theme),
                    change=change,
                    k=k,
                )
            )
    order = {theme: i for i, theme in enumerate(THEMES)}
    rows.sort(key=lambda r: (r.cycle_opened, r.cycle_id, r.team.lower(), order[r.theme]))
    return _ThemeReport(rows, aggregates, hidden, names, opened)


def theme_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    cycle_ids: Collection[int] | None = None,
    since: date | datetime | None = None,
    context: ReportContext | None = None,
) -> list[ThemeRow]:
    """Theme scores of the given teams, ordered by cycle, team name and theme."""
    context = _context(session, threshold, context)
    if not team_ids:
        return []
    cycles = _cycles(session, team_ids=team_ids, cycle_ids=cycle_ids, since=since)
    if not cycles:
        return []
    return _theme_report(session, team_ids=team_ids, context=context, cycles=cycles).rows


def participation_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    cycle_ids: Collection[int] | None = None,
    context: ReportContext | None = None,
) -> list[ParticipationRow]:
    """Invitations and responses per group; counts and rate only where ≥ k were invited."""
    context = _context(session, threshold, context)
    names = context.names(session)
    if not team_ids:
        return []
    cycles = _cycles(session, team_ids=team_ids, cycle_ids=cycle_ids, since=None)
    # Complementary suppression on invited counts: no subtraction reveals a group below k.
    decide = _decider(
        session,
        context=context,
        cycles=cycles,
        model=Participation,
        cell=None,
        count=Participation.invited,
    )
    rows = session.execute(
        select(
            Participation.team_id,
            Participation.cycle_id,
            Participation.invited,
            Participation.responded,
            Participation.hidden,
        ).where(Participation.cycle_id.in_(cycles), Participation.team_id.in_(list(team_ids)))
    )
    opened = _opened(session, cycles, context)
    result = []
    for team, cycle, invited, responded, stored in rows:
        shown = not decide(team, cycle, None, stored)
        rate = round_pct(100.0 * responded / invited) if shown and invited else None
        result.append(
            ParticipationRow(
                team_id=team,
                team=names[team][0],
                cycle_id=cycle,
                invited=invited if shown else None,
                responded=responded if shown else None,
                rate=rate,
            )
        )
    result.sort(key=lambda r: (opened[r.cycle_id], r.team.lower()))
    return result


def item_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    cycle_id: int | None = None,
    cycle_ids: Collection[int] | None = None,
    context: ReportContext | None = None,
) -> list[ItemRow]:
    """Raw answer distributions per item for drill-down, suppressed per item like scores."""
    context = _context(session, threshold, context)
    wanted = list(cycle_ids or []) + ([cycle_id] if cycle_id is not None else [])
    if not team_ids or not wanted:
        return []
    hidden = _decider(
        session,
        context=context,
        cycles=wanted,
        model=ItemAggregate,
        cell=ItemAggregate.item_id,
        count=ItemAggregate.n,
    )
    found = session.execute(
        select(
            ItemAggregate.team_id,
            ItemAggregate.cycle_id,
            ItemAggregate.item_id,
            ItemAggregate.n,
            ItemAggregate.distribution,
            ItemAggregate.top2_pct,
            ItemAggregate.suppressed,
            Item.code,
            Item.version,
            Item.wording,
            Item.theme,
        )
        .join(Item, Item.id == ItemAggregate.item_id)
        .where(ItemAggregate.cycle_id.in_(wanted), ItemAggregate.team_id.in_(list(team_ids)))
    )
    rows = []
    for agg in found:
        shown = not hidden(agg.team_id, agg.cycle_id, agg.item_id, agg.suppressed)
        distribution = agg.distribution
        rows.append(
            ItemRow(
                team_id=agg.team_id,
                cycle_id=agg.cycle_id,
                item_code=agg.code,
                item_version=agg.version,
                wording=agg.wording,
                theme=agg.theme,
                n=agg.n if shown else None,
                distribution={int(v): int(c) for v, c in distribution.items()} if shown else None,
                top2_pct=_pct(agg.top2_pct) if shown else None,
                suppressed=not shown,
            )
        )
    order = {theme: i for i, theme in enumerate((*THEMES, "enps"))}
    rows.sort(key=lambda r: (r.cycle_id, r.team_id, order.get(r.theme, 9), r.item_code))
    return rows


def anchor_rows(
    session: Session,
    *,
    team_id: int,
    threshold: int,
    cycle_ids: Collection[int],
    context: ReportContext | None = None,
) -> list[AnchorRow]:
    """The mean answer to each theme's anchor item per cycle, for trends; hidden like items."""
    context = _context(session, threshold, context)
    wanted = sorted(cycle_ids)
    if not wanted:
        return []
    hidden = _decider(
        session,
        context=context,
        cycles=wanted,
        model=ItemAggregate,
        cell=ItemAggregate.item_id,
        count=ItemAggregate.n,
    )
    found = session.execute(
        select(
            ItemAggregate.cycle_id,
            ItemAggregate.item_id,
            ItemAggregate.mean,
            ItemAggregate.suppressed,
            Item.theme,
        )
        .join(Item, Item.id == ItemAggregate.item_id)
        .where(
            ItemAggregate.team_id == team_id,
            ItemAggregate.cycle_id.in_(wanted),
            Item.is_anchor,
        )
    )
    rows = []
    for cycle, item, mean, stored, theme in found:
        shown = mean is not None and not hidden(team_id, cycle, item, stored)
        rows.append(AnchorRow(cycle_id=cycle, theme=theme, mean=_r1(mean) if shown else None))
    return rows


def _respondents(session: Session, *, cycle_id: int, tree: TeamTree) -> dict[int, int]:
    totals: dict[int, int] = {}
    for team_id in session.scalars(select(Response.team_id).where(Response.cycle_id == cycle_id)):
        for group in tree.chain(team_id):
            totals[group] = totals.get(group, 0) + 1
    return totals


def comment_rows(
    session: Session, *, team_id: int, cycle_id: int, threshold: int, rng: random.Random
) -> list[CommentRow]:
    """Comments of a group's subtree: only where its respondents may be shown, shuffled."""
    k = validate_threshold(threshold)
    tree = TeamTree.load(session)
    totals = _respondents(session, cycle_id=cycle_id, tree=tree)
    # The same complementary suppression as scores: a department's comments minus its
    # visible teams' comments must never single out a hidden team's few comments.
    if totals.get(team_id, 0) < k or team_id in hidden_groups(tree.parents, totals, k):
        return []
    subtree = {t for t in tree.parents if team_id in tree.chain(t)}
    found = session.execute(
        select(Comment.theme, Comment.body)
        .where(Comment.cycle_id == cycle_id, Comment.team_id.in_(sorted(subtree)))
        .order_by(Comment.id)
    )
    kept = [CommentRow(theme=theme, body=body.strip()) for theme, body in found if body.strip()]
    rng.shuffle(kept)
    return kept


def compare_rows(
    session: Session,
    *,
    team_id: int,
    cycle_id: int,
    threshold: int,
    context: ReportContext | None = None,
) -> list[ThemeRow]:
    """The team, its parent group, the organisation and the rest of the organisation."""
    context = _context(session, threshold, context)
    k, names = context.k, context.names(session)
    chain = context.tree.chain(team_id)
    groups = list(dict.fromkeys([chain[0], *chain[1:2], chain[-1]]))
    report = _theme_report(session, team_ids=set(groups), context=context, cycles=[cycle_id])
    position = {group: i for i, group in enumerate(groups)}
    rows = sorted(report.rows, key=lambda r: (position[r.team_id], THEMES.index(r.theme)))
    if len(chain) < 2:
        return rows
    root = chain[-1]
    hidden = report.hidden
    for theme in THEMES:
        team = report.aggregates.get((team_id, cycle_id, theme))
        org = report.aggregates.get((root, cycle_id, theme))
        if org is None:
            continue
        visible = (
            team is not None
            and not hidden(root, cycle_id, theme)
            and team_vs_rest(team.n, org.n, k, team_hidden=hidden(team_id, cycle_id, theme))
        )
        rest = rest_of_organisation(org, team) if visible and team is not None else None
        row = _theme_row(
            rest,
            team_id=root,
            cycle_id=cycle_id,
            theme=theme,
            names=names,
            opened=report.opened[cycle_id],
            hidden=rest is None,
            change=None,
            k=k,
        )
        rows.append(ThemeRow(**{**row.__dict__, "team": "Rest of organisation", "parent": None}))
    return rows


def cycles_for(session: Session, *, team_ids: Collection[int]) -> list[CycleRow]:
    """Cycles the given teams were surveyed in (or have results for), newest first."""
    if not team_ids:
        return []
    ids = list(team_ids)
    query = (
        select(Cycle.id, Cycle.opens_at, Cycle.status)
        .where(
            Cycle.id.in_(select(Invitation.cycle_id).where(Invitation.team_id.in_(ids)))
            | Cycle.id.in_(select(ThemeAggregate.cycle_id).where(ThemeAggregate.team_id.in_(ids)))
        )
        .order_by(Cycle.opens_at.desc())
    )
    return [CycleRow(id=i, opened=o.date(), status=s) for i, o, s in session.execute(query)]


def was_surveyed(session: Session, *, team_ids: Collection[int], cycle_id: int) -> bool:
    """Whether any of the teams was surveyed in (or has results for) the cycle: whether the
    cycle is one of their cycles_for."""
    ids = sorted(team_ids)
    invited = select(Invitation.id).where(
        Invitation.cycle_id == cycle_id, Invitation.team_id.in_(ids)
    )
    reported = select(ThemeAggregate.team_id).where(
        ThemeAggregate.cycle_id == cycle_id, ThemeAggregate.team_id.in_(ids)
    )
    return bool(session.scalar(select(invited.exists() | reported.exists())))


def latest_closed_cycle_id(session: Session, *, team_ids: Collection[int]) -> int | None:
    """The most recent closed cycle with aggregates for any of the given teams."""
    return session.scalar(
        select(Cycle.id)
        .join(ThemeAggregate, ThemeAggregate.cycle_id == Cycle.id)
        .where(Cycle.status == "closed", ThemeAggregate.team_id.in_(list(team_ids)))
        .order_by(Cycle.opens_at.desc())
        .limit(1)
    )


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
            "suppressed": row.suppressed,
            "reason": row.reason,
        }
        for row in theme_rows(session, team_ids=team_ids, threshold=threshold, since=since)
    ]
