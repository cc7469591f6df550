"""Dashboard page frame, built per request from the signed-in person's visible teams."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html
from flask_wtf.csrf import generate_csrf

from dashboard.access import Viewer, current_viewer, team_options
from dashboard.callbacks import overview_cycle_options
from pulse.actions.service import MAX_ACTION_LENGTH
from pulse.instrument import THEME_LABELS, THEMES

GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}


def _graph(graph_id: str) -> dcc.Loading:
    return dcc.Loading(dcc.Graph(id=graph_id, config=GRAPH_CONFIG), type="default")


def controls(viewer: Viewer) -> dbc.Row:
    options = team_options(viewer)
    led = [o["value"] for o in options if o["value"] in set(viewer.person.led_team_ids)]
    first = led[0] if led else (options[0]["value"] if options else None)
    return dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Team", html_for="team-select"),
                    dcc.Dropdown(id="team-select", options=options, value=first, clearable=False),
                ],
                xs=12,
                md=5,
            ),
            dbc.Col(
                [
                    dbc.Label("Survey cycle", html_for="cycle-select"),
                    dcc.Dropdown(id="cycle-select", clearable=False),
                ],
                xs=12,
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Button(
                        "Download CSV", id="download-button", color="secondary", outline=True
                    ),
                    dcc.Download(id="download"),
                ],
                xs=12,
                md=3,
                className="d-flex align-items-end justify-content-md-end mt-2 mt-md-0",
            ),
        ],
        className="g-3 mb-3",
    )


def overview_tab(viewer: Viewer) -> dbc.Tab:
    options, latest = overview_cycle_options(viewer)
    return dbc.Tab(
        [
            dbc.Row(
                dbc.Col(
                    [
                        dbc.Label("Cycle shown", html_for="overview-cycle"),
                        dcc.Dropdown(
                            id="overview-cycle", options=options, value=latest, clearable=False
                        ),
                    ],
                    xs=12,
                    md=4,
                ),
                className="my-3",
            ),
            html.P(
                "Each cell: mean score (1–5) and its 95% interval. ▲/▼ mark significant changes "
                "only; everything else shows no detectable change. Click a team to open it.",
                className="text-muted small",
            ),
            _graph("overview-heatmap"),
            html.H2("Participation", className="h5 mt-4"),
            html.Div(id="overview-participation"),
        ],
        label="Overview",
        tab_id="overview",
    )


def team_tab() -> dbc.Tab:
    return dbc.Tab(
        [
            html.Div(id="team-guide", className="mt-3"),
            _graph("team-trends"),
            html.H2("Actions and whether they helped", className="h5 mt-4"),
            html.Div(id="team-actions"),
        ],
        label="Team",
        tab_id="team",
    )


def items_tab() -> dbc.Tab:
    return dbc.Tab(
        [_graph("items-graph"), html.Div(id="items-table", className="mt-3")],
        label="Items",
        tab_id="items",
    )


def comments_tab() -> dbc.Tab:
    return dbc.Tab(html.Div(id="comments", className="mt-3"), label="Comments", tab_id="comments")


def compare_tab() -> dbc.Tab:
    return dbc.Tab(
        [_graph("compare-graph"), html.Div(id="compare-table", className="mt-3")],
        label="Compare",
        tab_id="compare",
    )


def actions_tab() -> dbc.Tab:
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
            html.Div(
                dbc.Button("Record action", id="action-save", color="primary", n_clicks=0),
                className="mt-3",
            ),
        ],
        id="action-form",
    )
    return dbc.Tab(
        [
            dbc.Row(
                [
                    dbc.Col([form, html.Div(id="action-result", className="mt-3")], lg=7),
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


def serve_layout() -> dbc.Container:
    viewer = current_viewer()
    # Dash also calls this at start-up to validate, outside any request: give it the frame only.
    if viewer is None:
        return dbc.Container(html.Div(id="overview"))
    return dbc.Container(
        [
            dcc.Store(id="actions-version", data=0),
            dcc.Store(id="overview-rows", data={}),
            html.Div(
                [
                    html.H1("How your teams are doing", className="h3 mb-0"),
                    html.Div(
                        [
                            html.Span(f"Signed in as {viewer.person.name}", className="me-3"),
                            html.Form(
                                [
                                    dcc.Input(
                                        type="hidden", name="csrf_token", value=generate_csrf()
                                    ),
                                    html.Button("Sign out", className="btn btn-link btn-sm p-0"),
                                ],
                                method="post",
                                action="/sign-out",
                                className="d-inline",
                            ),
                        ],
                        className="text-muted small",
                    ),
                ],
                className="d-flex flex-wrap justify-content-between align-items-center my-3",
            ),
            controls(viewer),
            dbc.Tabs(
                [
                    overview_tab(viewer),
                    team_tab(),
                    items_tab(),
                    comments_tab(),
                    compare_tab(),
                    actions_tab(),
                ],
                id="tabs",
                active_tab="overview",
            ),
        ],
        fluid=True,
        className="dashboard pb-5",
        style={"maxWidth": "1400px"},
    )
