"""Dashboard pages, built per request from the signed-in person's visible teams."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html
from flask import has_request_context
from flask_login import current_user

from pulse.instrument import THEME_LABELS, THEMES
from pulse.reporting.queries import latest_closed_cycle_id, theme_scores
from pulse.teams.service import visible_team_ids
from webapp.extensions import db


def _cell(row: object | None) -> html.Td:
    if row is None or getattr(row, "suppressed", True) or getattr(row, "mean", None) is None:
        return html.Td("no data", className="text-muted", title="fewer than k responses")
    return html.Td(f"{row.mean:.1f}")  # type: ignore[attr-defined]


def overview() -> html.Div:
    person = current_user.person()
    team_ids = visible_team_ids(db.session, person=person)
    cycle_id = latest_closed_cycle_id(db.session, team_ids=team_ids)
    if cycle_id is None:
        return html.Div(
            dbc.Alert("No closed survey cycle has results for your teams yet.", color="info")
        )
    rows = theme_scores(db.session, team_ids=team_ids, cycle_id=cycle_id)
    by_team: dict[str, dict[str, object]] = {}
    for row in rows:
        by_team.setdefault(row.team, {})[row.theme] = row
    header = html.Thead(html.Tr([html.Th("Team")] + [html.Th(THEME_LABELS[t]) for t in THEMES]))
    body = html.Tbody(
        [
            html.Tr([html.Th(team, scope="row")] + [_cell(cells.get(t)) for t in THEMES])
            for team, cells in by_team.items()
        ]
    )
    return html.Div(
        [
            html.P(f"Latest closed cycle, opened {rows[0].cycle_opened}." if rows else ""),
            dbc.Table([header, body], bordered=True, hover=True, id="overview-table"),
        ]
    )


def serve_layout() -> html.Div:
    # Dash also calls this at start-up to validate, outside any request: give it the frame only.
    if not has_request_context() or not current_user.is_authenticated:
        return dbc.Container(html.Div(id="overview"))
    return dbc.Container(
        [
            html.H1("How your teams are doing", className="h3 my-4"),
            html.P(f"Signed in as {current_user.name}.", className="text-muted"),
            overview(),
        ],
        fluid=False,
    )
