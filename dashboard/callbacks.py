"""Dashboard callbacks: plain functions (one module per tab) that re-check rights on every id,
then call pulse; this module wires them to the layout's components."""

from __future__ import annotations

import json

import dash
from dash import Input, Output, State, no_update

from dashboard.access import NOT_SURVEYED
from dashboard.tab_actions import download, render_action_tracker, save_action, save_status
from dashboard.tab_comments import render_comments, save_reply
from dashboard.tab_items import item_trend_choices, render_compare, render_item_trend, render_items
from dashboard.tab_overview import open_team_from_click, overview_cycle_options, render_overview
from dashboard.tab_team import render_report_link, render_team

__all__ = [
    "NOT_SURVEYED",
    "download",
    "item_trend_choices",
    "no_update",
    "open_team_from_click",
    "overview_cycle_options",
    "register",
    "render_action_tracker",
    "render_comments",
    "render_compare",
    "render_item_trend",
    "render_items",
    "render_overview",
    "render_report_link",
    "render_team",
    "save_action",
    "save_reply",
    "save_status",
]


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
        Output("team-report", "children"),
        Input("team-select", "value"),
        Input("cycle-select", "value"),
    )(render_report_link)
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
