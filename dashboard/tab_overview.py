"""Overview tab: the cycle picker, the heatmap of the viewer's groups and participation."""

from __future__ import annotations

from typing import Any

from dash import no_update

from dashboard import figures, panels, source
from dashboard.access import NOT_AVAILABLE, Viewer, current_viewer, scope_tree
from dashboard.access import parse_id as _int
from dashboard.figures_heatmap import overview_heatmap
from webapp.extensions import db


def cycle_label(cycle: Any) -> str:
    state = "open now" if cycle.status == "open" else cycle.status
    return f"Opened {cycle.opened.isoformat()} ({state})"


# --- overview -------------------------------------------------------------------------------


def overview_cycle_options(viewer: Viewer) -> tuple[list[dict[str, Any]], int | None]:
    """Options of the one cycle picker every tab reads, and its default: the latest closed
    cycle (an open one shows nothing yet but participation)."""
    cycles = source.cycles_for(db.session, team_ids=sorted(viewer.team_ids))
    latest = source.latest_closed_cycle_id(db.session, team_ids=sorted(viewer.team_ids))
    return [{"label": cycle_label(c), "value": c.id} for c in cycles], latest


def render_overview(
    cycle_value: object, width: object = None
) -> tuple[figures.Figure, Any, dict[str, int]]:
    """The heatmap of the viewer's teams × themes as the tree reads, the participation
    table, row label → id; laid out for a phone where the browser's width is narrow."""
    viewer = current_viewer()
    if viewer is None or not viewer.team_ids:
        return figures.empty_figure(NOT_AVAILABLE), panels.notice(NOT_AVAILABLE), {}
    team_ids = sorted(viewer.team_ids)
    cycle_id = _int(cycle_value)
    if cycle_id is not None and not source.was_surveyed(
        db.session, team_ids=team_ids, cycle_id=cycle_id
    ):
        cycle_id = None
    if cycle_id is None:
        cycle_id = source.latest_closed_cycle_id(db.session, team_ids=team_ids)
    if cycle_id is None:
        message = "No closed survey cycle has results for your teams yet."
        return figures.empty_figure(message), panels.notice(message, "info"), {}
    report = viewer.report()
    # The heatmap explains its flags only: what unflagged rows were compared with is not read.
    rows = source.theme_rows(
        db.session,
        team_ids=team_ids,
        threshold=viewer.k,
        cycle_ids=[cycle_id],
        context=report,
        flags_only=True,
    )
    taking_part = source.participation_rows(
        db.session, team_ids=team_ids, threshold=viewer.k, cycle_ids=[cycle_id], context=report
    )
    tree = scope_tree(viewer)
    present = {row.team_id for row in rows}
    order = [node.team_id for node in tree if node.team_id in present]
    # A group of the cycle's snapshot that no longer stands in today's tree comes last.
    in_tree = set(order)
    order += [t for t in dict.fromkeys(row.team_id for row in rows) if t not in in_tree]
    names = {node.team_id: node.name for node in tree}
    depths = {node.team_id: node.depth for node in tree}
    names.update({row.team_id: row.team for row in rows if row.team_id not in names})
    share = {row.team_id: panels.took_part_share(row) for row in taking_part}
    narrow = isinstance(width, int | float) and width < 576
    figure = overview_heatmap(rows, names, order, viewer.k, share, depths, narrow=narrow)
    rows_by_label = {names[team_id]: team_id for team_id in order}
    # The participation table in the heatmap's order (a position per group: a thousand
    # groups make a search of the list for each row cost more than the report).
    position = {team_id: i for i, team_id in enumerate(order)}
    ordered_part = sorted(taking_part, key=lambda r: position.get(r.team_id, len(order)))
    return figure, panels.participation_table(ordered_part, viewer.k), rows_by_label


def open_team_from_click(click_data: object, rows_by_label: object) -> tuple[Any, Any]:
    """Clicking a heatmap cell opens that team, if the viewer may see it."""
    viewer = current_viewer()
    try:
        label = click_data["points"][0]["y"]  # type: ignore[index]
        team_value = rows_by_label.get(label)  # type: ignore[union-attr]
    except (TypeError, KeyError, IndexError, AttributeError):
        return no_update, no_update
    team_id = viewer.team(team_value) if viewer else None
    if team_id is None:
        return no_update, no_update
    return str(team_id), "team"
