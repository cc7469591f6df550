"""Comments tab: the team's comments where the rules allow, and the leader's replies."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from dash import no_update

from dashboard import comment_panels, panels
from dashboard.access import NOT_AVAILABLE, NOT_SURVEYED, current_viewer
from pulse.comments.replies import ReplyRefused, reply_to_comment
from pulse.comments.report import leader_comments
from webapp.extensions import db


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
