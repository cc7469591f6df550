"""Team tab: trends with bands, anchors, changes, participation and actions; the guide."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from dash import html

from dashboard import figures, panels, source
from dashboard.access import NOT_AVAILABLE, current_viewer
from dashboard.figures_trends import team_trends
from pulse.actions.guide import prompts_for
from pulse.actions.service import feedback_summary, list_actions
from pulse.instrument import THEMES
from webapp.extensions import db


def render_team(team_value: object, _version: object = None) -> tuple[Any, Any, Any, Any]:
    """Trends with bands, anchors, changes, participation and actions; guide; action list."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    if viewer is None or team_id is None:
        empty = panels.notice(NOT_AVAILABLE)
        return figures.empty_figure(NOT_AVAILABLE), empty, empty, empty
    report = viewer.report()
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
    figure = team_trends(rows, taking_part, anchors, actions, opened)
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


REPORT_LINK_TEXT = "Team report, PDF and sharing"


def report_href(team_id: int, cycle_id: int) -> str:
    """The team report page of one team and closed cycle (print, PDF, share with the team)."""
    return f"/reports/teams/{team_id}/cycles/{cycle_id}"


def render_report_link(team_value: object, cycle_value: object) -> Any:
    """A link to the chosen team's report for the chosen cycle, once that cycle has closed
    (an open cycle has no results to take into a meeting or share)."""
    viewer = current_viewer()
    team_id = viewer.team(team_value) if viewer else None
    cycle_id = viewer.cycle(team_id, cycle_value) if viewer and team_id else None
    if viewer is None or team_id is None or cycle_id is None:
        return None
    cycles = {c.id: c for c in source.cycles_for(db.session, team_ids=[team_id])}
    cycle = cycles.get(cycle_id)
    if cycle is None or cycle.status != "closed":
        return html.P(
            "The team report opens here once this cycle has closed.",
            className="text-muted small mt-3",
        )
    return html.P(
        html.A(REPORT_LINK_TEXT, href=report_href(team_id, cycle_id), id="team-report-link"),
        className="mt-3",
    )
