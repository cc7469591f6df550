"""Items and Compare tabs: item distributions, one item over time, team against its context."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard import figures, figures_items, panels, source
from dashboard.access import NOT_AVAILABLE, NOT_SURVEYED, Viewer, current_viewer
from pulse.reporting.wording import item_label
from webapp.extensions import db


def team_items(viewer: Viewer, team_id: int, cycle_id: int) -> list[Any]:
    """The team's own item rows in the cycle, as the viewer may see them."""
    items = source.item_rows(
        db.session,
        team_ids=[team_id],
        threshold=viewer.k,
        cycle_id=cycle_id,
        context=viewer.report(),
    )
    return [item for item in items if item.team_id == team_id]


def render_items(team_value: object, cycle_value: object) -> tuple[figures.Figure, Any]:
    """The stacked 1–5 distribution and favourable % per item for one team and cycle."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None:
        return figures.empty_figure(NOT_AVAILABLE), html.Div()
    if cycle_id is None:
        return figures.empty_figure(NOT_SURVEYED), html.Div()
    items = team_items(viewer, team_id, cycle_id)
    reverse = source.reverse_worded(db.session)
    figure = figures_items.item_distribution(items, viewer.k, reverse)
    return figure, panels.favourable_table(items, viewer.k, reverse)


def item_trend_choices(team_value: object, cycle_value: object) -> tuple[Any, Any]:
    """The items the team was asked in the chosen cycle, for the item-over-time picker."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None:
        return [], None
    items = team_items(viewer, team_id, cycle_id)
    reverse = source.reverse_worded(db.session)
    options = [{"label": item_label(item, reverse), "value": item.item_code} for item in items]
    return options, (options[0]["value"] if options else None)


def render_item_trend(team_value: object, item_code: object) -> figures.Figure:
    """One item's answer distribution per cycle for the team, only in cycles where shown."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    if viewer is None or team_id is None:
        return figures.empty_figure(NOT_AVAILABLE)
    if not isinstance(item_code, str):
        return figures.empty_figure("Choose an item.")
    cycles = [c for c in source.cycles_for(db.session, team_ids=[team_id]) if c.status != "open"]
    recent = cycles[:12]
    rows = source.item_rows(
        db.session,
        team_ids=[team_id],
        threshold=viewer.k,
        cycle_ids=[c.id for c in recent],
        context=viewer.report(),
    )
    opened = {c.id: c.opened for c in recent}
    mine = [r for r in rows if r.team_id == team_id and r.item_code == item_code]
    return figures_items.item_trend(mine, opened)


def render_compare(team_value: object, cycle_value: object) -> tuple[figures.Figure, Any]:
    """The team against its department and the organisation, complementary suppression applied."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None:
        return figures.empty_figure(NOT_AVAILABLE), html.Div()
    if cycle_id is None:
        return figures.empty_figure(NOT_SURVEYED), html.Div()
    rows = source.compare_rows(
        db.session, team_id=team_id, cycle_id=cycle_id, threshold=viewer.k, context=viewer.report()
    )
    return figures_items.compare_points(rows), panels.compare_table(rows)
