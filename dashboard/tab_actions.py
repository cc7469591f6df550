"""Actions tab: record an action, track its status; and the download of what is on screen."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

from dash import no_update

from dashboard import panels, source
from dashboard.access import NOT_AVAILABLE, current_viewer
from dashboard.access import parse_id as _int
from dashboard.tab_items import team_items
from pulse.actions.service import (
    feedback_summary,
    list_actions,
    record_action,
    set_action_status,
)
from pulse.comments.report import leader_comments
from webapp.extensions import db


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
        rows = team_items(viewer, team_id, cycle_id)
    elif tab == "compare" and cycle_id is not None:
        rows = source.compare_rows(
            db.session,
            team_id=team_id,
            cycle_id=cycle_id,
            threshold=viewer.k,
            context=viewer.report(),
        )
    else:
        rows = source.export_rows(db.session, team_ids=[team_id], threshold=viewer.k)
    return {"content": _csv(rows), "filename": f"team-pulse-{tab}.csv", "type": "text/csv"}
