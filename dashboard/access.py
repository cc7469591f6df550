"""Who is looking and what they may see: every callback re-checks every id it is sent."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, has_request_context
from flask_login import current_user
from sqlalchemy import func, select

from dashboard import source
from pulse.organisation.service import threshold
from pulse.people.models import Person
from pulse.teams.models import Team
from pulse.teams.service import visible_team_ids
from webapp.extensions import db

NOT_AVAILABLE = "Not available: pick one of your teams."


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, the teams they may see and the threshold k, for one request."""

    person: Person
    team_ids: frozenset[int]
    k: int

    def team(self, value: object) -> int | None:
        """The team id sent by the browser if this viewer may see it, else None."""
        team_id = parse_id(value)
        return team_id if team_id is not None and team_id in self.team_ids else None

    def cycle(self, team_id: int, value: object) -> int | None:
        """The cycle id sent by the browser if it is one of the team's reported cycles."""
        cycle_id = parse_id(value)
        if cycle_id is None or team_id not in self.team_ids:
            return None
        known = source.was_surveyed(db.session, team_ids=[team_id], cycle_id=cycle_id)
        return cycle_id if known else None


def parse_id(value: object) -> int | None:
    """A positive integer id from whatever the browser sent, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) or None
    return None


def current_viewer() -> Viewer | None:
    """The signed-in leader or admin for this request, or None (then show nothing)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    if not current_user.can_view_dashboard:
        return None
    # Cached on flask.g: per request, never shared between users.
    if "dashboard_viewer" not in g:
        person = db.session.get(Person, current_user.person_id)
        if person is None or not person.active:
            return None
        settings = current_app.config["PULSE"]
        g.dashboard_viewer = Viewer(
            person=person,
            team_ids=frozenset(visible_team_ids(db.session, person=person)),
            k=threshold(db.session, default=settings.threshold),
        )
    viewer: Viewer = g.dashboard_viewer
    return viewer


def team_options(viewer: Viewer) -> list[dict[str, object]]:
    """Dropdown options for the viewer's teams (departments and the organisation included)."""
    if not viewer.team_ids:
        return []
    rows = db.session.execute(
        select(Team.id, Team.name, Team.kind)
        .where(Team.id.in_(sorted(viewer.team_ids)), Team.archived_at.is_(None))
        .order_by(func.lower(Team.name))
    )
    return [
        {"label": name if kind == "team" else f"{name} ({kind})", "value": team_id}
        for team_id, name, kind in rows
    ]
