"""Who is looking and what they may see: every callback re-checks every id it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_request_context
from flask_login import current_user
from sqlalchemy import bindparam, select

from dashboard import source
from pulse.organisation.service import Thresholds, thresholds
from pulse.people.models import Person
from pulse.teams.models import Team
from pulse.teams.service import visible_team_ids
from webapp.extensions import db

NOT_AVAILABLE = "Not available: pick one of your teams."
NOT_SURVEYED = "This team had no survey in the chosen cycle. Pick another cycle above."


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, the teams they may see and the thresholds, for one request."""

    person: Person
    team_ids: frozenset[int]
    limits: Thresholds

    @property
    def k(self) -> int:
        """The scores threshold in force."""
        return self.limits.scores

    def report(self) -> source.ReportContext:
        """The one report context of this request: the queries of a callback share its reads
        of trees, thresholds and stamps (pulse.reporting.context)."""
        if "dashboard_report" not in g:
            g.dashboard_report = source.ReportContext.load(
                db.session,
                threshold=self.limits.scores,
                participation=self.limits.participation,
                comments=self.limits.comments,
            )
        report: source.ReportContext = g.dashboard_report
        return report

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
            limits=thresholds(db.session, default=settings.threshold),
        )
    viewer: Viewer = g.dashboard_viewer
    return viewer


@dataclass(frozen=True)
class ScopeNode:
    """One team of the viewer's scope in tree order, with its depth for indenting."""

    team_id: int
    name: str
    kind: str
    depth: int


# Built once with the teams bound when it runs: an admin's every request lists a thousand
# teams, and building the statement around them cost more than reading them.
_SCOPE = select(Team.id, Team.name, Team.kind, Team.parent_id).where(
    Team.id.in_(bindparam("teams", expanding=True)), Team.archived_at.is_(None)
)


def scope_tree(viewer: Viewer) -> list[ScopeNode]:
    """The viewer's teams as the tree reads (organisation → departments → teams), each
    parent before its children, siblings by name, the teams the viewer leads first.

    Leaders look for their own scope first; an alphabetical list mixes levels and, after an
    import, put an empty team at the top."""
    if not viewer.team_ids:
        return []
    rows = db.session.execute(_SCOPE, {"teams": sorted(viewer.team_ids)}).all()
    known = {row.id for row in rows}
    led = set(viewer.person.led_team_ids)
    children: dict[int | None, list[Any]] = {}
    for row in rows:
        parent = row.parent_id if row.parent_id in known else None
        children.setdefault(parent, []).append(row)
    for siblings in children.values():
        siblings.sort(key=lambda r: (r.id not in led, r.name.lower()))
    ordered: list[ScopeNode] = []
    stack = [(row, 0) for row in reversed(children.get(None, []))]
    while stack:
        row, depth = stack.pop()
        ordered.append(ScopeNode(row.id, row.name, row.kind, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(row.id, [])))
    return ordered


def indented(node: ScopeNode) -> str:
    """A team's name indented by its depth (no-break spaces survive HTML and plotly)."""
    return "\u00a0\u00a0\u00a0" * node.depth + node.name


def team_options(viewer: Viewer) -> list[dict[str, object]]:
    """Dropdown options for the viewer's teams in tree order, indented by depth."""
    return [
        {
            "label": indented(node) if node.kind == "team" else f"{indented(node)} ({node.kind})",
            "value": node.team_id,
        }
        for node in scope_tree(viewer)
    ]


def default_team(viewer: Viewer) -> int | None:
    """Where a viewer starts: the first team they lead, else (an admin) the top of the tree."""
    nodes = scope_tree(viewer)
    led = set(viewer.person.led_team_ids)
    for node in nodes:
        if node.team_id in led:
            return node.team_id
    return nodes[0].team_id if nodes else None
