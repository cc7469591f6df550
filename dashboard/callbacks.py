"""Dashboard callbacks: plain functions that re-check rights on every id, then call pulse."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

import dash
from dash import Input, Output, State, html, no_update

from dashboard import figures, panels, source
from dashboard.access import NOT_AVAILABLE, Viewer, current_viewer
from dashboard.access import parse_id as _int
from pulse.actions.guide import prompts_for
from pulse.actions.service import feedback_summary, list_actions, record_action
from pulse.instrument import THEMES
from webapp.extensions import db


def cycle_label(cycle: Any) -> str:
    state = "open now" if cycle.status == "open" else cycle.status
    return f"Opened {cycle.opened.isoformat()} ({state})"


# --- overview -------------------------------------------------------------------------------


def overview_cycle_options(viewer: Viewer) -> tuple[list[dict[str, Any]], int | None]:
    """Options of the overview's cycle picker and the latest closed cycle as its default."""
    cycles = source.cycles_for(db.session, team_ids=sorted(viewer.team_ids))
    latest = source.latest_closed_cycle_id(db.session, team_ids=sorted(viewer.team_ids))
    return [{"label": cycle_label(c), "value": c.id} for c in cycles], latest


def render_overview(cycle_value: object) -> tuple[figures.Figure, html.Div, dict[str, int]]:
    """The heatmap of the viewer's teams × themes, the participation table, row label → id."""
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
    report = source.ReportContext.load(db.session, threshold=viewer.k)
    rows = source.theme_rows(
        db.session, team_ids=team_ids, threshold=viewer.k, cycle_ids=[cycle_id], context=report
    )
    taking_part = source.participation_rows(
        db.session, team_ids=team_ids, threshold=viewer.k, cycle_ids=[cycle_id], context=report
    )
    order = list(dict.fromkeys(row.team_id for row in rows))
    share = {row.team_id: panels.took_part_share(row) for row in taking_part}
    labels = {}
    for row in rows:
        pct = share.get(row.team_id)
        suffix = f" · {pct} took part" if pct is not None else ""
        labels[row.team_id] = f"{row.team}{suffix}"
    figure = figures.overview_heatmap(rows, labels, order, viewer.k)
    rows_by_label = {label: team_id for team_id, label in labels.items()}
    return figure, panels.participation_table(taking_part, viewer.k), rows_by_label


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
    return team_id, "team"


# --- team -----------------------------------------------------------------------------------


def team_cycle_options(team_value: object) -> tuple[list[dict[str, Any]], int | None]:
    """The chosen team's cycles for the cycle picker, defaulting to its latest closed one."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    if viewer is None or team_id is None:
        return [], None
    cycles = source.cycles_for(db.session, team_ids=[team_id])
    closed = [c.id for c in cycles if c.status != "open"]
    return [{"label": cycle_label(c), "value": c.id} for c in cycles], (
        closed[0] if closed else None
    )


def render_team(team_value: object, _version: object = None) -> tuple[Any, Any, Any, Any]:
    """Trends with bands, anchors, changes, participation and actions; guide; action list."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    if viewer is None or team_id is None:
        empty = panels.notice(NOT_AVAILABLE)
        return figures.empty_figure(NOT_AVAILABLE), empty, empty, empty
    report = source.ReportContext.load(db.session, threshold=viewer.k)
    rows = source.theme_rows(db.session, team_ids=[team_id], threshold=viewer.k, context=report)
    if not rows:
        message = "No results for this team yet."
        empty = panels.notice(message, "info")
        actions = list_actions(db.session, team_id=team_id)
        summaries = feedback_summary(
            db.session, action_ids=[a.id for a in actions], threshold=viewer.k
        )
        return (
            figures.empty_figure(message),
            empty,
            panels.action_list(actions, summaries, viewer.k),
            empty,
        )
    opened: dict[int, date] = {row.cycle_id: row.cycle_opened for row in rows}
    taking_part = source.participation_rows(
        db.session, team_ids=[team_id], threshold=viewer.k, cycle_ids=list(opened), context=report
    )
    anchor_rows = source.anchor_rows(
        db.session, team_id=team_id, threshold=viewer.k, cycle_ids=list(opened), context=report
    )
    anchors = anchor_series(anchor_rows, opened)
    actions = list_actions(db.session, team_id=team_id)
    summaries = feedback_summary(db.session, action_ids=[a.id for a in actions], threshold=viewer.k)
    figure = figures.team_trends(rows, taking_part, anchors, actions, opened)
    guide = panels.guide_cards(prompts_for(rows))
    return figure, guide, panels.action_list(actions, summaries, viewer.k), guide


def anchor_series(
    rows: Sequence[Any], opened: dict[int, date]
) -> dict[str, tuple[list[str], list[float]]]:
    """Per theme, the anchor item's mean per cycle (gaps where suppressed), oldest first."""
    series: dict[str, tuple[list[str], list[float]]] = {t: ([], []) for t in THEMES}
    for row in sorted(rows, key=lambda r: opened.get(r.cycle_id, date.min)):
        if row.theme not in series or row.cycle_id not in opened:
            continue
        series[row.theme][0].append(opened[row.cycle_id].isoformat())
        series[row.theme][1].append(float("nan") if row.mean is None else row.mean)
    return series


# --- items, comments, compare ---------------------------------------------------------------


def render_items(team_value: object, cycle_value: object) -> tuple[figures.Figure, Any]:
    """The stacked 1–5 distribution and favourable % per item for one team and cycle."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None:
        return figures.empty_figure(NOT_AVAILABLE), html.Div()
    items = source.item_rows(db.session, team_ids=[team_id], threshold=viewer.k, cycle_id=cycle_id)
    items = [item for item in items if item.team_id == team_id]
    return figures.item_distribution(items, viewer.k), panels.favourable_table(items, viewer.k)


def render_comments(team_value: object, cycle_value: object) -> Any:
    """The team's comments for one cycle where the rules allow: shuffled, undated, per theme."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None:
        return panels.notice(NOT_AVAILABLE)
    rows = source.comment_rows(
        db.session, team_id=team_id, cycle_id=cycle_id, threshold=viewer.k, rng=random.Random()
    )
    return panels.comment_list(rows, viewer.k)


def render_compare(team_value: object, cycle_value: object) -> tuple[figures.Figure, Any]:
    """The team against its department and the organisation, complementary suppression applied."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None:
        return figures.empty_figure(NOT_AVAILABLE), html.Div()
    rows = source.compare_rows(db.session, team_id=team_id, cycle_id=cycle_id, threshold=viewer.k)
    return figures.compare_points(rows), panels.compare_table(rows)


# --- actions and download -------------------------------------------------------------------


def save_action(
    n_clicks: object,
    team_value: object,
    cycle_value: object,
    theme: object,
    text: object,
    version: object,
) -> tuple[Any, Any, Any]:
    """Record the action the team agreed on; bad input is explained and nothing is written."""
    if not n_clicks:
        return no_update, no_update, no_update
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None:
        return panels.notice(NOT_AVAILABLE, "warning"), no_update, no_update
    if cycle_id is None:
        return (
            panels.notice("Choose the survey cycle this action follows.", "warning"),
            no_update,
            no_update,
        )
    try:
        record_action(
            db.session,
            actor=viewer.person,
            team_id=team_id,
            cycle_id=cycle_id,
            theme=str(theme),
            text=text if isinstance(text, str) else None,
        )
    except PermissionError:
        db.session.rollback()
        return panels.notice(NOT_AVAILABLE, "warning"), no_update, no_update
    except ValueError as exc:
        db.session.rollback()
        return panels.notice(f"Not recorded: {exc}.", "warning"), no_update, no_update
    db.session.commit()
    done = panels.notice(
        "Action recorded. The next pulse will show it and ask whether it helped.", "success"
    )
    return done, (_int(version) or 0) + 1, ""


def _csv(rows: Sequence[Any]) -> str:
    dicts = [asdict(row) if is_dataclass(row) else dict(row) for row in rows]  # type: ignore[arg-type]
    if not dicts:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dicts[0]), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(dicts)
    return buffer.getvalue()


def download(
    n_clicks: object, tab: object, team_value: object, cycle_value: object, overview_value: object
) -> Any:
    """The rows behind what is on screen as CSV (theme rows are the `pulse report export` rows)."""
    if not n_clicks:
        return no_update
    viewer = current_viewer()
    if viewer is None:
        return no_update
    if tab == "overview":
        cycles = {c.id: c for c in source.cycles_for(db.session, team_ids=sorted(viewer.team_ids))}
        cycle = cycles.get(_int(overview_value) or 0)
        if cycle is None:
            return {"content": "", "filename": "team-pulse-overview.csv", "type": "text/csv"}
        # The overview shows one cycle: the export rows of that cycle only.
        rows = [
            row
            for row in source.export_rows(
                db.session, team_ids=sorted(viewer.team_ids), threshold=viewer.k, since=cycle.opened
            )
            if row["cycle_id"] == cycle.id
        ]
        return {"content": _csv(rows), "filename": "team-pulse-overview.csv", "type": "text/csv"}
    team_id = viewer.team(team_value)
    if team_id is None:
        return {"content": "", "filename": "not-available.csv", "type": "text/csv"}
    cycle_id = viewer.cycle(team_id, cycle_value)
    if tab == "items" and cycle_id is not None:
        rows = source.item_rows(
            db.session, team_ids=[team_id], threshold=viewer.k, cycle_id=cycle_id
        )
    elif tab == "compare" and cycle_id is not None:
        rows = source.compare_rows(
            db.session, team_id=team_id, cycle_id=cycle_id, threshold=viewer.k
        )
    else:
        rows = source.export_rows(db.session, team_ids=[team_id], threshold=viewer.k)
    return {"content": _csv(rows), "filename": f"team-pulse-{tab}.csv", "type": "text/csv"}


def register(app: dash.Dash) -> None:
    """Wire the callback functions to the layout's components."""
    app.callback(
        Output("overview-heatmap", "figure"),
        Output("overview-participation", "children"),
        Output("overview-rows", "data"),
        Input("overview-cycle", "value"),
    )(render_overview)
    app.callback(
        Output("team-select", "value"),
        Output("tabs", "active_tab"),
        Input("overview-heatmap", "clickData"),
        State("overview-rows", "data"),
        prevent_initial_call=True,
    )(open_team_from_click)
    app.callback(
        Output("cycle-select", "options"),
        Output("cycle-select", "value"),
        Input("team-select", "value"),
    )(team_cycle_options)
    app.callback(
        Output("team-trends", "figure"),
        Output("team-guide", "children"),
        Output("team-actions", "children"),
        Output("guide", "children"),
        Input("team-select", "value"),
        Input("actions-version", "data"),
    )(render_team)
    app.callback(
        Output("items-graph", "figure"),
        Output("items-table", "children"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )(render_items)
    app.callback(
        Output("comments", "children"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )(render_comments)
    app.callback(
        Output("compare-graph", "figure"),
        Output("compare-table", "children"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )(render_compare)
    app.callback(
        Output("action-result", "children"),
        Output("actions-version", "data"),
        Output("action-text", "value"),
        Input("action-save", "n_clicks"),
        State("team-select", "value"),
        State("cycle-select", "value"),
        State("action-theme", "value"),
        State("action-text", "value"),
        State("actions-version", "data"),
        prevent_initial_call=True,
    )(save_action)
    app.callback(
        Output("download", "data"),
        Input("download-button", "n_clicks"),
        State("tabs", "active_tab"),
        State("team-select", "value"),
        State("cycle-select", "value"),
        State("overview-cycle", "value"),
        prevent_initial_call=True,
    )(download)
