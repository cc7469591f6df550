"""Dashboard page frame, built per request from the signed-in person's visible teams."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import dash_bootstrap_components as dbc
from dash import dcc, html
from flask import has_request_context, request

from dashboard.access import Viewer, current_viewer, default_team, parse_id, team_options
from dashboard.tab_overview import overview_cycle_options
from pulse.actions.service import MAX_ACTION_LENGTH, MAX_OWNER_LENGTH, STATUS_LABELS
from pulse.instrument import THEME_LABELS, THEMES

GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}


@dataclass(frozen=True)
class Pane:
    """One tab of the dashboard: its content, the label on its tab, its id."""

    children: Any
    label: str
    tab_id: str


def tab_strip(panes: list[Pane], active: str) -> html.Div:
    """Tabs built from plain buttons and panels with the WAI-ARIA tab roles.

    dbc.Tabs 2.0 gives every tab the id "…-tab-null", points aria-controls at no panel, puts
    the links outside list items and takes them all out of the tab order (axe: critical); a
    clientside callback (callbacks.TAB_SWITCH) marks the chosen tab and shows its panel."""
    buttons = [
        html.Button(
            pane.label,
            id=f"tab-{pane.tab_id}",
            type="button",
            role="tab",
            n_clicks=0,
            className="nav-link active" if pane.tab_id == active else "nav-link",
            **{
                "aria-selected": "true" if pane.tab_id == active else "false",
                "aria-controls": f"panel-{pane.tab_id}",
                "data-tab": pane.tab_id,
            },
        )
        for pane in panes
    ]
    panels = [
        html.Div(
            pane.children,
            id=f"panel-{pane.tab_id}",
            role="tabpanel",
            className="tab-pane active" if pane.tab_id == active else "tab-pane",
            **{"aria-labelledby": f"tab-{pane.tab_id}"},
        )
        for pane in panes
    ]
    return html.Div(
        [
            dcc.Store(id="active-tab", data=active),
            html.Div(
                buttons,
                id="tabs",
                role="tablist",
                className="nav nav-tabs pulse-tabs",
                **{"aria-label": "Views of the results"},
            ),
            html.Div(panels, className="tab-content"),
        ]
    )


def _graph(graph_id: str) -> dcc.Loading:
    return dcc.Loading(dcc.Graph(id=graph_id, config=GRAPH_CONFIG), type="default")


def _as_text(options: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Options of a native <select>, whose values are text (callbacks parse them back)."""
    return [{"label": str(o["label"]), "value": str(o["value"])} for o in options]


def controls(viewer: Viewer, team: int | None, cycle: int | None) -> dbc.Row:
    """The one team picker and the one cycle picker every tab reads, and the download."""
    cycles, latest = overview_cycle_options(viewer)
    return dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Team", html_for="team-select"),
                    dbc.Select(
                        id="team-select",
                        options=_as_text(team_options(viewer)),
                        value=str(team if team is not None else default_team(viewer) or ""),
                    ),
                ],
                xs=12,
                md=5,
            ),
            dbc.Col(
                [
                    dbc.Label("Survey cycle", html_for="cycle-select"),
                    dbc.Select(
                        id="cycle-select",
                        options=_as_text(cycles),
                        value=str(cycle if cycle is not None else latest or ""),
                    ),
                ],
                xs=12,
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Button("Download CSV", id="download-button", color="dark", outline=True),
                    dcc.Download(id="download"),
                ],
                xs=12,
                md=3,
                className="d-flex align-items-end justify-content-md-end mt-2 mt-md-0",
            ),
        ],
        className="g-3 mb-3",
    )


def overview_tab() -> Pane:
    return Pane(
        [
            html.P(
                "Each cell: mean score (1–5) and its 95% interval; hover or tap for the number "
                "of answers. ▲/▼ mark significant changes only. Blue is better and orange is "
                "worse for every theme (for AI concern, less concern is better). "
                "Click a team to open it.",
                className="text-muted small mt-3",
            ),
            _graph("overview-heatmap"),
            html.H2("Participation", className="h5 mt-4"),
            html.Div(id="overview-participation"),
        ],
        label="Overview",
        tab_id="overview",
    )


def team_tab() -> Pane:
    return Pane(
        [
            html.Div(id="team-report"),
            html.Div(id="team-guide", className="mt-3"),
            _graph("team-trends"),
            html.H2("Actions and whether they helped", className="h5 mt-4"),
            html.Div(id="team-actions"),
        ],
        label="Team",
        tab_id="team",
    )


def items_tab() -> Pane:
    return Pane(
        [
            _graph("items-graph"),
            html.Div(id="items-table", className="mt-3"),
            html.H2("One item over time", className="h5 mt-4"),
            dbc.Label("Item", html_for="item-trend-item"),
            dbc.Select(id="item-trend-item", options=[]),
            dbc.FormText(
                "Only cycles where this team's answers to the item are shown appear here."
            ),
            _graph("item-trend"),
        ],
        label="Items",
        tab_id="items",
    )


def comments_tab() -> Pane:
    return Pane(html.Div(id="comments", className="mt-3"), label="Comments", tab_id="comments")


def compare_tab() -> Pane:
    return Pane(
        [_graph("compare-graph"), html.Div(id="compare-table", className="mt-3")],
        label="Compare",
        tab_id="compare",
    )


def actions_tab() -> Pane:
    form = html.Div(
        [
            html.Fieldset(
                [
                    html.Legend("Theme", className="form-label fs-6"),
                    dbc.RadioItems(
                        id="action-theme",
                        options=[{"label": THEME_LABELS[t], "value": t} for t in THEMES],
                        value=THEMES[0],
                        inline=True,
                    ),
                ],
                className="mb-3",
            ),
            dbc.Label("What the team agreed to do", html_for="action-text"),
            dbc.Textarea(
                id="action-text",
                maxLength=MAX_ACTION_LENGTH,
                rows=3,
                placeholder="e.g. Open each retro with one thing that went wrong and the lesson",
            ),
            dbc.FormText(
                f"Up to {MAX_ACTION_LENGTH} characters. Recorded for the team and cycle selected "
                "above; the next pulse shows it at the top and asks whether it helped."
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Who takes it forward (optional)", html_for="action-owner"),
                            dbc.Input(id="action-owner", maxLength=MAX_OWNER_LENGTH, type="text"),
                        ],
                        xs=12,
                        sm=7,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Due by (optional)", html_for="action-due"),
                            dbc.Input(id="action-due", type="date"),
                        ],
                        xs=12,
                        sm=5,
                    ),
                ],
                className="g-2 mt-2",
            ),
            html.Div(
                dbc.Button("Record action", id="action-save", color="primary", n_clicks=0),
                className="mt-3",
            ),
        ],
        id="action-form",
    )
    return Pane(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            form,
                            html.Div(id="action-result", className="mt-3"),
                            html.H2("The team's actions", className="h5 mt-4"),
                            html.Div(id="actions-list"),
                            status_form(),
                        ],
                        lg=7,
                    ),
                    dbc.Col(
                        [html.H2("Conversation guide", className="h5"), html.Div(id="guide")],
                        lg=5,
                    ),
                ],
                className="mt-3 g-4",
            )
        ],
        label="Actions & guide",
        tab_id="actions",
    )


def status_form() -> html.Div:
    """Move one of the team's actions along: planned, in progress, done or dropped."""
    return html.Div(
        [
            html.H3("Update where an action stands", className="h6"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Action", html_for="status-action"),
                            dbc.Select(id="status-action", options=[]),
                        ],
                        xs=12,
                        sm=7,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Status", html_for="status-value"),
                            dbc.Select(
                                id="status-value",
                                options=[
                                    {"label": v, "value": k} for k, v in STATUS_LABELS.items()
                                ],
                                value="in_progress",
                            ),
                        ],
                        xs=12,
                        sm=5,
                    ),
                ],
                className="g-2",
            ),
            dbc.Button(
                "Save status", id="status-save", color="primary", outline=True, className="mt-2"
            ),
            html.Div(id="status-result", className="mt-2"),
        ],
        id="status-form",
        className="mt-3",
    )


def panes() -> list[Pane]:
    """The dashboard's views, in the order of their tabs."""
    return [overview_tab(), team_tab(), items_tab(), comments_tab(), compare_tab(), actions_tab()]


TABS = ("overview", "team", "items", "comments", "compare", "actions")


def _start(viewer: Viewer) -> tuple[str, int | None, int | None]:
    """The tab, team and cycle the page opens on: those in the address (so that signing in
    again after a session ends comes back to the same view) where the viewer may see them."""
    args: Mapping[str, str] = {}
    if has_request_context():
        # The layout is fetched by the page's script: the view's address is the page's, which
        # the fetch carries as its referrer (same origin), not the fetch's own.
        page = urlsplit(request.referrer or "")
        if page.path.startswith(request.script_root + "/dashboard"):
            args = dict(parse_qsl(page.query))
        args = {**args, **request.args}
    tab = str(args.get("tab", "overview"))
    team = viewer.team(args.get("team"))
    cycle = parse_id(args.get("cycle"))
    known = {option["value"] for option in overview_cycle_options(viewer)[0]}
    return (
        tab if tab in TABS else "overview",
        team,
        cycle if cycle in known else None,
    )


def serve_layout() -> html.Div:
    viewer = current_viewer()
    # Dash also calls this at start-up to validate, outside any request: give it the frame only.
    if viewer is None:
        return html.Div(html.Div(id="overview"))
    tab, team, cycle = _start(viewer)
    return html.Div(
        [
            dcc.Store(id="actions-version", data=0),
            dcc.Store(id="overview-rows", data={}),
            dcc.Store(id="viewport-width"),
            html.Div(id="address-sync", hidden=True),
            html.H1("How your teams are doing", className="h3 my-2"),
            controls(viewer, team, cycle),
            tab_strip(panes(), tab),
        ],
        className="dashboard pb-5 mx-auto",
        style={"maxWidth": "1400px"},
    )
