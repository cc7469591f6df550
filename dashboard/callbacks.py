"""Dashboard callbacks: plain functions that re-check rights on every id, then call pulse."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

import dash
from dash import Input, Output, State, html, no_update

from dashboard import comment_panels, figures, panels, source
from dashboard.access import NOT_AVAILABLE, Viewer, current_viewer, scope_tree
from dashboard.access import parse_id as _int
from pulse.actions.guide import prompts_for
from pulse.actions.service import (
    feedback_summary,
    list_actions,
    record_action,
    set_action_status,
)
from pulse.comments.replies import ReplyRefused, reply_to_comment
from pulse.comments.report import leader_comments
from pulse.instrument import THEMES
from webapp.extensions import db

NOT_SURVEYED = "This team had no survey in the chosen cycle. Pick another cycle above."


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
    report = source.ReportContext.load(db.session, threshold=viewer.k)
    rows = source.theme_rows(
        db.session, team_ids=team_ids, threshold=viewer.k, cycle_ids=[cycle_id], context=report
    )
    taking_part = source.participation_rows(
        db.session, team_ids=team_ids, threshold=viewer.k, cycle_ids=[cycle_id], context=report
    )
    tree = scope_tree(viewer)
    present = {row.team_id for row in rows}
    order = [node.team_id for node in tree if node.team_id in present]
    # A group of the cycle's snapshot that no longer stands in today's tree comes last.
    order += [t for t in dict.fromkeys(row.team_id for row in rows) if t not in set(order)]
    names = {node.team_id: node.name for node in tree}
    depths = {node.team_id: node.depth for node in tree}
    names.update({row.team_id: row.team for row in rows if row.team_id not in names})
    share = {row.team_id: panels.took_part_share(row) for row in taking_part}
    narrow = isinstance(width, int | float) and width < 576
    figure = figures.overview_heatmap(rows, names, order, viewer.k, share, depths, narrow=narrow)
    rows_by_label = {names[team_id]: team_id for team_id in order}
    ordered_part = sorted(
        taking_part, key=lambda r: order.index(r.team_id) if r.team_id in order else len(order)
    )
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


# --- team -----------------------------------------------------------------------------------


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
    if viewer is None or team_id is None:
        return figures.empty_figure(NOT_AVAILABLE), html.Div()
    if cycle_id is None:
        return figures.empty_figure(NOT_SURVEYED), html.Div()
    items = source.item_rows(db.session, team_ids=[team_id], threshold=viewer.k, cycle_id=cycle_id)
    items = [item for item in items if item.team_id == team_id]
    return figures.item_distribution(items, viewer.k), panels.favourable_table(items, viewer.k)


def item_trend_choices(team_value: object, cycle_value: object) -> tuple[Any, Any]:
    """The items the team was asked in the chosen cycle, for the item-over-time picker."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None:
        return [], None
    items = source.item_rows(db.session, team_ids=[team_id], threshold=viewer.k, cycle_id=cycle_id)
    options = [
        {"label": item.wording, "value": item.item_code}
        for item in items
        if item.team_id == team_id
    ]
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
        db.session, team_ids=[team_id], threshold=viewer.k, cycle_ids=[c.id for c in recent]
    )
    opened = {c.id: c.opened for c in recent}
    mine = [r for r in rows if r.team_id == team_id and r.item_code == item_code]
    return figures.item_trend(mine, opened)


def render_comments(team_value: object, cycle_value: object) -> Any:
    """The team's comments for one cycle where the rules allow: shuffled, undated, per theme."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None:
        return panels.notice(NOT_AVAILABLE)
    if cycle_id is None:
        return panels.notice(NOT_SURVEYED, "info")
    view = leader_comments(
        db.session, team_id=team_id, cycle_id=cycle_id, threshold=viewer.k, rng=random.Random()
    )
    return comment_panels.comment_view(view)


def save_reply(
    n_clicks: object,
    team_value: object,
    cycle_value: object,
    handle: object,
    reaction: object,
    text: object,
    public: object,
) -> Any:
    """Record a leader's acknowledgement or reply; the service re-checks that the comment is
    one this leader is shown for this team and cycle, whatever handle the browser sends."""
    if not n_clicks:
        return no_update
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None or not isinstance(handle, str):
        return panels.notice("Choose one of the comments shown.", "warning")
    try:
        reply_to_comment(
            db.session,
            actor=viewer.person,
            team_id=team_id,
            cycle_id=cycle_id,
            handle=handle,
            threshold=viewer.k,
            today=date.today(),
            reaction=reaction if isinstance(reaction, str) else None,
            body=text if isinstance(text, str) else None,
            public=bool(public),
        )
    except PermissionError:
        db.session.rollback()
        return panels.notice(NOT_AVAILABLE, "warning")
    except ReplyRefused as exc:
        db.session.rollback()
        return panels.notice(f"Not sent: {exc}.", "warning")
    db.session.commit()
    return panels.notice(
        "Sent. The writer reads it through their own link; nobody is told who wrote what.",
        "success",
    )


def render_compare(team_value: object, cycle_value: object) -> tuple[figures.Figure, Any]:
    """The team against its department and the organisation, complementary suppression applied."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None:
        return figures.empty_figure(NOT_AVAILABLE), html.Div()
    if cycle_id is None:
        return figures.empty_figure(NOT_SURVEYED), html.Div()
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
    owner: object = None,
    due: object = None,
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
        due_on = date.fromisoformat(due) if isinstance(due, str) and due else None
    except ValueError:
        return (
            panels.notice("Not recorded: give the due date as a date.", "warning"),
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
            owner=owner if isinstance(owner, str) else None,
            due_on=due_on,
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


def render_action_tracker(team_value: object, _version: object = None) -> tuple[Any, Any, Any]:
    """The team's actions with owner, due date and status, and the status form's choices
    (the latest action chosen: a native select shows its first option whatever the value)."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    if viewer is None or team_id is None:
        return panels.notice(NOT_AVAILABLE), [], None
    actions = list_actions(db.session, team_id=team_id)
    summaries = feedback_summary(db.session, action_ids=[a.id for a in actions], threshold=viewer.k)
    choices = [
        {"label": a.text if len(a.text) <= 60 else a.text[:59] + "…", "value": str(a.id)}
        for a in actions
    ]
    choices.reverse()
    chosen = choices[0]["value"] if choices else None
    return panels.action_list(actions, summaries, viewer.k, "action-tracker"), choices, chosen


def save_status(
    n_clicks: object, team_value: object, action_value: object, status: object, version: object
) -> tuple[Any, Any]:
    """Move an action to another status; the service re-checks that the viewer may."""
    if not n_clicks:
        return no_update, no_update
    viewer = current_viewer()
    action_id = _int(action_value)
    if viewer is None or viewer.team(team_value) is None or action_id is None:
        return panels.notice("Choose one of the team's actions.", "warning"), no_update
    try:
        set_action_status(db.session, actor=viewer.person, action_id=action_id, status=str(status))
    except PermissionError:
        db.session.rollback()
        return panels.notice(NOT_AVAILABLE, "warning"), no_update
    except ValueError as exc:
        db.session.rollback()
        return panels.notice(f"Not saved: {exc}.", "warning"), no_update
    db.session.commit()
    return panels.notice("Status saved.", "success"), (_int(version) or 0) + 1


def _csv(rows: Sequence[Any]) -> str:
    dicts = [asdict(row) if is_dataclass(row) else dict(row) for row in rows]  # type: ignore[arg-type]
    if not dicts:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dicts[0]), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(dicts)
    return buffer.getvalue()


def _action_rows(team_id: int, k: int) -> list[dict[str, Any]]:
    """The team's recorded actions as the Actions tab lists them, with what the team said."""
    actions = list_actions(db.session, team_id=team_id)
    summaries = feedback_summary(db.session, action_ids=[a.id for a in actions], threshold=k)
    return [panels.action_record(action, summaries.get(action.id), k) for action in actions]


def download(n_clicks: object, tab: object, team_value: object, cycle_value: object) -> Any:
    """The rows behind what is on screen as CSV (theme rows are the `pulse report export` rows;
    the Actions tab downloads the actions)."""
    if not n_clicks:
        return no_update
    viewer = current_viewer()
    if viewer is None:
        return no_update
    if tab == "overview":
        cycles = {c.id: c for c in source.cycles_for(db.session, team_ids=sorted(viewer.team_ids))}
        cycle = cycles.get(_int(cycle_value) or 0)
        if cycle is None:
            return {"content": "", "filename": "team-pulse-overview.csv", "type": "text/csv"}
        # The overview shows one cycle: the export rows of that cycle only.
        rows: Sequence[Any] = [
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
    if tab == "actions":
        rows = _action_rows(team_id, viewer.k)
    elif tab == "comments" and cycle_id is not None:
        # What the tab shows: masked comments, never the stored text.
        view = leader_comments(
            db.session, team_id=team_id, cycle_id=cycle_id, threshold=viewer.k, rng=random.Random()
        )
        rows = [{"theme": c.theme or "", "comment": c.text} for c in view.comments]
    elif tab == "items" and cycle_id is not None:
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


TAB_IDS = ("overview", "team", "items", "comments", "compare", "actions")

# Switching tabs happens in the browser: a click names the tab, and the chosen tab is marked
# selected and its panel shown, without a trip to the server.
TAB_CLICK = """function () {
    var fired = dash_clientside.callback_context.triggered;
    if (!fired || !fired.length || !fired[0].value) { return dash_clientside.no_update; }
    return fired[0].prop_id.split(".")[0].replace("tab-", "");
}"""
TAB_SWITCH = """function (active) {
    var ids = TAB_IDS;
    var tabs = ids.map(function (id) { return id === active ? "nav-link active" : "nav-link"; });
    var selected = ids.map(function (id) { return id === active ? "true" : "false"; });
    var panels = ids.map(function (id) { return id === active ? "tab-pane active" : "tab-pane"; });
    window.dispatchEvent(new Event("resize"));
    return tabs.concat(selected, panels);
}""".replace("TAB_IDS", json.dumps(TAB_IDS))


def register(app: dash.Dash) -> None:
    """Wire the callback functions to the layout's components."""
    app.clientside_callback(
        TAB_CLICK,
        Output("active-tab", "data", allow_duplicate=True),
        [Input(f"tab-{name}", "n_clicks") for name in TAB_IDS],
        prevent_initial_call=True,
    )
    app.clientside_callback(
        TAB_SWITCH,
        [Output(f"tab-{name}", "className") for name in TAB_IDS]
        + [Output(f"tab-{name}", "aria-selected") for name in TAB_IDS]
        + [Output(f"panel-{name}", "className") for name in TAB_IDS],
        Input("active-tab", "data"),
    )
    app.callback(
        Output("overview-heatmap", "figure"),
        Output("overview-participation", "children"),
        Output("overview-rows", "data"),
        Input("cycle-select", "value"),
        Input("viewport-width", "data"),
    )(render_overview)
    # The browser's width, read once before the first overview is drawn (Dash runs this
    # first: the overview waits on its output), so a phone gets a heatmap laid out for it.
    app.clientside_callback(
        "function (_) { return window.innerWidth; }",
        Output("viewport-width", "data"),
        Input("viewport-width", "id"),
    )
    app.callback(
        Output("team-select", "value"),
        Output("active-tab", "data"),
        Input("overview-heatmap", "clickData"),
        State("overview-rows", "data"),
        prevent_initial_call=True,
    )(open_team_from_click)
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
        Output("item-trend-item", "options"),
        Output("item-trend-item", "value"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )(item_trend_choices)
    app.callback(
        Output("item-trend", "figure"),
        Input("team-select", "value"),
        Input("item-trend-item", "value"),
    )(render_item_trend)
    app.callback(
        Output("comments", "children"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )(render_comments)
    app.callback(
        Output("reply-result", "children"),
        Input("reply-send", "n_clicks"),
        State("team-select", "value"),
        State("cycle-select", "value"),
        State("reply-comment", "value"),
        State("reply-reaction", "value"),
        State("reply-text", "value"),
        State("reply-public", "value"),
        prevent_initial_call=True,
    )(save_reply)
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
        State("action-owner", "value"),
        State("action-due", "value"),
        prevent_initial_call=True,
    )(save_action)
    app.callback(
        Output("actions-list", "children"),
        Output("status-action", "options"),
        Output("status-action", "value"),
        Input("team-select", "value"),
        Input("actions-version", "data"),
    )(render_action_tracker)
    app.callback(
        Output("status-result", "children"),
        Output("actions-version", "data", allow_duplicate=True),
        Input("status-save", "n_clicks"),
        State("team-select", "value"),
        State("status-action", "value"),
        State("status-value", "value"),
        State("actions-version", "data"),
        prevent_initial_call=True,
    )(save_status)
    app.callback(
        Output("download", "data"),
        Input("download-button", "n_clicks"),
        State("active-tab", "data"),
        State("team-select", "value"),
        State("cycle-select", "value"),
        prevent_initial_call=True,
    )(download)
    # The address follows the view, so that signing in again returns to it.
    app.clientside_callback(
        """function (tab, team, cycle) {
            var query = new URLSearchParams({tab: tab || "overview"});
            if (team) { query.set("team", team); }
            if (cycle) { query.set("cycle", cycle); }
            window.history.replaceState(null, "", "?" + query.toString());
            return "";
        }""",
        Output("address-sync", "children"),
        Input("active-tab", "data"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )
