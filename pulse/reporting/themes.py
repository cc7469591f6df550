"""Theme scores as reports show them: rows with honest states, and the team-vs-rest comparison.

Each row follows its cycle's one hiding pattern (pulse.reporting.pattern) and, on top, the
measure's own n; a hidden row carries no figure at all, only the reason in words. Change flags
are dropped where any earlier figure they were tested against is hidden now.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pulse.confidentiality import (
    round_mean,
    round_pct,
    team_vs_rest,
)
from pulse.instrument import THEMES
from pulse.reporting.baselines import compared_cycles, earlier_figures
from pulse.reporting.context import ReportContext, report_context
from pulse.reporting.fast import group_rows, marks, run_sql
from pulse.reporting.models import Participation, ThemeAggregate
from pulse.reporting.pattern import (
    COMPLEMENT,
    FEW,
    Pattern,
    load_pattern,
    measure_hidden,
    measure_state,
)
from pulse.reporting.rest import ThemeFigures, rest_of_organisation
from pulse.reporting.rows import (
    ThemeRow,
)
from pulse.surveys.models import Cycle

# Built once, run on every report (pulse.reporting.fast, "Statements built once").
_OPENED = select(Cycle.id, Cycle.opens_at).where(Cycle.id.in_(bindparam("cycles", expanding=True)))


def opened_dates(
    session: Session, cycle_ids: Collection[int], context: ReportContext
) -> dict[int, datetime]:
    """When each cycle opened; a report's queries ask about the same cycles, so it is kept."""
    known = context.opened
    missing = [c for c in cycle_ids if c not in known]
    if missing:
        known.update((c, opened) for c, opened in session.execute(_OPENED, {"cycles": missing}))
    return {c: known[c] for c in cycle_ids if c in known}


def _names(names: Mapping[int, tuple[str, int | None]], team_id: int) -> tuple[str, str | None]:
    """A group's name and its parent's name, from (name, parent) of every group."""
    name, parent = names[team_id]
    return name, None if parent is None else names[parent][0]


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
    names: tuple[str, str | None],
    opened: datetime,
    state: str | None,
    change: str | None,
    pattern: Pattern,
    tested: ThemeFigures | None = None,
) -> ThemeRow:
    name, parent_name = names
    if agg is None or state is not None:
        # Hidden, sealed or never answered: no figure at all, and the reason in words.
        state = state or FEW
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
            reason=pattern.text(state, cycle_id, parent=parent_name),
            state=state,
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
        **_comparison(tested),
    )


def _comparison(tested: ThemeFigures | None) -> dict[str, Any]:
    """What a change test compared, rounded as every figure is; nothing where none was made."""
    if tested is None or tested.baseline_n is None:
        return {}
    return {
        "delta": _r1(tested.delta),
        "delta_low": _r1(tested.delta_low),
        "delta_high": _r1(tested.delta_high),
        "window_n": tested.window_n,
        "window_cycles": tested.window_cycles,
        "baseline_n": tested.baseline_n,
        "baseline_mean": _r1(tested.baseline_mean),
        "baseline_cycles": tested.baseline_cycles,
    }


# What a report reads of a stored aggregate: the figures it may show, what the "rest of the
# organisation" needs to subtract, and the stored flag of its measure (see measure_hidden).
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
    "answers_n",
    "favourable_sq",
    "favourable_cross",
    "answers_sq",
    "change",
    "delta",
    "delta_low",
    "delta_high",
    "window_n",
    "window_cycles",
    "baseline_n",
    "baseline_mean",
    "baseline_cycles",
    "suppressed",
)


def _theme_aggregates(
    session: Session, *, cycle_ids: Collection[int], team_ids: Collection[int]
) -> dict[tuple[int, int, str], Any]:
    """The given groups' stored theme aggregates in these cycles."""
    return {
        (row.team_id, row.cycle_id, row.theme): row
        for row in group_rows(
            session, "theme_aggregates", _SHOWN_FIGURES, cycle_ids=cycle_ids, team_ids=team_ids
        )
    }


def _invited(
    session: Session, *, team_ids: Collection[int], cycle_ids: Collection[int]
) -> set[tuple[int, int]]:
    """(team, cycle) pairs with participation counts: invited there, answered or not."""
    return {
        (row.team_id, row.cycle_id)
        for row in group_rows(
            session,
            "participation",
            ("team_id", "cycle_id"),
            cycle_ids=cycle_ids,
            team_ids=team_ids,
        )
    }


def report_cycles(
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
    aggregates: dict[tuple[int, int, str], Any]
    pattern: Pattern
    hidden: Callable[[int, int, str], bool]
    opened: dict[int, datetime]


def _theme_report(
    session: Session,
    *,
    team_ids: Collection[int],
    context: ReportContext,
    cycles: list[int],
    flags_only: bool = False,
) -> _ThemeReport:
    compared = compared_cycles(
        session, cycle_ids=cycles, team_ids=team_ids, flagged_only=flags_only
    )
    aggregates = _theme_aggregates(session, cycle_ids=cycles, team_ids=team_ids)
    pattern = load_pattern(session, context=context, cycle_ids=cycles, team_ids=team_ids)
    measure = measure_hidden(
        session, context=context, pattern=pattern, model=ThemeAggregate, cell=ThemeAggregate.theme
    )
    reported = frozenset(cycles)
    before = earlier_figures(
        session,
        context=context,
        cycle_ids=set().union(*compared.values()) - reported,
        team_ids={team_id for team_id, _, _ in compared},
        figures=_SHOWN_FIGURES,
    )

    def hidden(team_id: int, cycle_id: int, theme: str) -> bool:
        row = aggregates.get((team_id, cycle_id, theme))
        return row is None or measure(team_id, cycle_id, theme, row.suppressed)

    opened = opened_dates(session, cycles, context)
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
    # Per cycle, the themes it asked and the names of its groups; then a row per group and theme.
    asked = {c: [t for t in THEMES if t in themes_of.get(c, ())] for c in cycles}
    names_then = {c: context.names_in(session, c) for c in {c for _, c in due}}
    rows = []
    for team_id, cycle_id in due:
        shown = pattern.state(team_id, cycle_id)
        names = _names(names_then[cycle_id], team_id)
        for theme in asked[cycle_id]:
            agg = aggregates.get((team_id, cycle_id, theme))
            state = shown
            if state is None and hidden(team_id, cycle_id, theme):
                state = measure_state(None if agg is None else agg.n, pattern.k(cycle_id))
            # A test that read an earlier figure hidden now would hint at that figure, and a
            # flag that cannot say what it read (stored before flags kept it) is not shown.
            read = compared.get((team_id, cycle_id, theme))
            sound = (
                read is not None
                and not before.any_hidden(team_id, theme, read - reported)
                and not any(hidden(team_id, c, theme) for c in read & reported)
            )
            change = agg.change if agg is not None and sound else None
            rows.append(
                _theme_row(
                    agg,
                    team_id=team_id,
                    cycle_id=cycle_id,
                    theme=theme,
                    names=names,
                    opened=opened[cycle_id],
                    state=state,
                    change=change,
                    pattern=pattern,
                    tested=agg if sound else None,
                )
            )
    order = {theme: i for i, theme in enumerate(THEMES)}
    rows.sort(key=lambda r: (r.cycle_opened, r.cycle_id, r.team.lower(), order[r.theme]))
    return _ThemeReport(rows, aggregates, pattern, hidden, opened)


def theme_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    cycle_ids: Collection[int] | None = None,
    since: date | datetime | None = None,
    context: ReportContext | None = None,
    flags_only: bool = False,
) -> list[ThemeRow]:
    """Theme scores of the given teams, ordered by cycle, team name and theme.

    With `flags_only`, only rows that carry a flag say what their test compared (delta,
    window, baseline): a heatmap explains its flags and nothing more, and the earlier cycles
    those tests read are then checked for the flagged groups alone."""
    context = report_context(session, threshold, context)
    if not team_ids:
        return []
    cycles = report_cycles(session, team_ids=team_ids, cycle_ids=cycle_ids, since=since)
    if not cycles:
        return []
    return _theme_report(
        session, team_ids=team_ids, context=context, cycles=cycles, flags_only=flags_only
    ).rows


def compare_rows(
    session: Session,
    *,
    team_id: int,
    cycle_id: int,
    threshold: int,
    context: ReportContext | None = None,
) -> list[ThemeRow]:
    """The team, its parent group, the organisation and the rest of the organisation.

    The rest is shown only where team and organisation are both visible in the cycle's
    pattern and each side has at least k respondents: it is then the difference of two
    visible figures and reveals nothing the tree does not.
    """
    context = report_context(session, threshold, context)
    k = context.k_of(session, cycle_id)
    chain = context.tree(session, cycle_id).chain(team_id)
    groups = list(dict.fromkeys([chain[0], *chain[1:2], chain[-1]]))
    report = _theme_report(session, team_ids=set(groups), context=context, cycles=[cycle_id])
    position = {group: i for i, group in enumerate(groups)}
    rows = sorted(report.rows, key=lambda r: (position[r.team_id], THEMES.index(r.theme)))
    if len(chain) < 2:
        return rows
    root = chain[-1]
    pattern = report.pattern
    team_n = pattern.respondents(team_id, cycle_id)
    org_n = pattern.respondents(root, cycle_id)
    visible = (
        not pattern.hidden(root, cycle_id)
        and team_n <= org_n
        and team_vs_rest(team_n, org_n, k, team_hidden=pattern.hidden(team_id, cycle_id))
    )
    # Why the rest is not shown: the organisation's own state, the team's, or else that the
    # rest itself has too few people to stand beside the team.
    state = pattern.state(root, cycle_id) or pattern.state(team_id, cycle_id) or COMPLEMENT
    for theme in THEMES:
        team = report.aggregates.get((team_id, cycle_id, theme))
        org = report.aggregates.get((root, cycle_id, theme))
        if org is None:
            continue
        both = not report.hidden(root, cycle_id, theme) and not report.hidden(
            team_id, cycle_id, theme
        )
        rest = (
            rest_of_organisation(org, team)
            if visible and both and team is not None and org.n - team.n >= k
            else None
        )
        row = _theme_row(
            rest,
            team_id=root,
            cycle_id=cycle_id,
            theme=theme,
            names=_names(context.names_in(session, cycle_id), root),
            opened=report.opened[cycle_id],
            state=None if rest is not None else state,
            change=None,
            pattern=pattern,
        )
        rows.append(ThemeRow(**{**row.__dict__, "team": "Rest of organisation", "parent": None}))
    return rows
