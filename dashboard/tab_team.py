"""Team tab: trends with bands, anchors, changes, participation and actions; the guide."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

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
