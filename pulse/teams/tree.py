"""Shaping the team tree: create, rename, move (never into a loop), archive; leader grants."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.people.models import Person, RoleGrant
from pulse.teams.models import TEAM_KINDS, Membership, Team
from pulse.teams.service import subtree_ids

MAX_TEAM_NAME = 120


class TreeError(ValueError):
    """A change to the tree that cannot be made; the message says why."""


@dataclass(frozen=True)
class TreeNode:
    team: Team
    depth: int
    members: int
    leaders: list[Person]


def _clean_name(session: Session, name: str, *, exclude_id: int | None = None) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise TreeError("a team needs a name")
    if len(cleaned) > MAX_TEAM_NAME:
        raise TreeError(f"team names are at most {MAX_TEAM_NAME} characters")
    clash = session.scalar(select(Team).where(func.lower(Team.name) == cleaned.lower()))
    if clash is not None and clash.id != exclude_id:
        raise TreeError(f"there is already a team named {clash.name!r}")
    return cleaned


def get_team(session: Session, *, team_id: int) -> Team:
    """The team with this id, or TreeError."""
    team = session.get(Team, team_id)
    if team is None:
        raise TreeError(f"no team with id {team_id}")
    return team


def create_team(session: Session, *, name: str, parent_id: int | None, kind: str = "team") -> Team:
    """Add a team (or department) under `parent_id`; only the organisation has no parent."""
    if kind not in TEAM_KINDS:
        raise TreeError(f"unknown kind {kind!r}; choose one of {', '.join(TEAM_KINDS)}")
    cleaned = _clean_name(session, name)
    parent = get_team(session, team_id=parent_id) if parent_id is not None else None
    if parent is None and kind != "organisation":
        raise TreeError("choose where the team sits in the tree")
    if parent is not None and parent.archived_at is not None:
        raise TreeError(f"{parent.name!r} is archived; choose another parent")
    if kind == "organisation" and parent is not None:
        raise TreeError("the organisation sits at the top of the tree")
    team = Team(name=cleaned, kind=kind, parent_id=parent.id if parent else None)
    session.add(team)
    session.flush()
    return team


def rename_team(session: Session, *, team_id: int, name: str) -> Team:
    """Give a team a new (unique) name; its history stays with it."""
    team = get_team(session, team_id=team_id)
    team.name = _clean_name(session, name, exclude_id=team.id)
    session.flush()
    return team


def move_team(session: Session, *, team_id: int, parent_id: int) -> Team:
    """Put a team under another parent; refuse to move it into its own subtree."""
    team = get_team(session, team_id=team_id)
    parent = get_team(session, team_id=parent_id)
    if team.parent_id is None:
        raise TreeError("the organisation is the top of the tree and cannot be moved")
    if parent.id in subtree_ids(session, team_ids={team.id}):
        raise TreeError(f"{parent.name!r} is inside {team.name!r}; that move would make a loop")
    if parent.archived_at is not None:
        raise TreeError(f"{parent.name!r} is archived; choose another parent")
    team.parent_id = parent.id
    session.flush()
    return team


def archive_team(session: Session, *, team_id: int) -> Team:
    """Archive a team: no new invitations, history kept. Its sub-teams must go first."""
    team = get_team(session, team_id=team_id)
    if team.parent_id is None:
        raise TreeError("the organisation cannot be archived")
    live_children = session.scalar(
        select(func.count())
        .select_from(Team)
        .where(Team.parent_id == team.id, Team.archived_at.is_(None))
    )
    if live_children:
        raise TreeError(
            f"{team.name!r} still has {live_children} sub-team(s); move or archive them"
        )
    if team.archived_at is None:
        team.archived_at = utcnow()
    session.flush()
    return team


def restore_team(session: Session, *, team_id: int) -> Team:
    """Bring an archived team back."""
    team = get_team(session, team_id=team_id)
    if team.parent is not None and team.parent.archived_at is not None:
        raise TreeError(f"restore {team.parent.name!r} first")
    team.archived_at = None
    session.flush()
    return team


def assign_leader(session: Session, *, person_id: int, team_id: int) -> bool:
    """Make the person a leader of the team (and so of its subtree); False if already."""
    person = session.get(Person, person_id)
    if person is None:
        raise TreeError(f"no person with id {person_id}")
    if not person.active:
        raise TreeError(f"{person.email} is deactivated; reactivate them first")
    team = get_team(session, team_id=team_id)
    if team.archived_at is not None:
        raise TreeError(f"{team.name!r} is archived")
    if any(g.role == "leader" and g.team_id == team.id for g in person.roles):
        return False
    person.roles.append(RoleGrant(role="leader", team_id=team.id))
    session.flush()
    return True


def remove_leader(session: Session, *, person_id: int, team_id: int) -> bool:
    """Withdraw the person's leadership of the team; False if they did not lead it."""
    grant = session.scalar(
        select(RoleGrant).where(
            RoleGrant.person_id == person_id,
            RoleGrant.role == "leader",
            RoleGrant.team_id == team_id,
        )
    )
    if grant is None:
        return False
    session.delete(grant)
    session.flush()
    return True


def leaders_of(session: Session, *, team_id: int) -> list[Person]:
    """People holding a leader grant on exactly this team."""
    query = (
        select(Person)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.role == "leader", RoleGrant.team_id == team_id)
        .order_by(Person.name)
    )
    return list(session.scalars(query))


def team_tree(session: Session, *, include_archived: bool = True) -> list[TreeNode]:
    """Every team in depth-first order with its depth, current member count and leaders."""
    teams = list(session.scalars(select(Team).order_by(Team.name)))
    members = dict(
        session.execute(
            select(Membership.team_id, func.count())
            .join(Person, Person.id == Membership.person_id)
            .where(Membership.ended_on.is_(None), Person.active.is_(True))
            .group_by(Membership.team_id)
        ).all()
    )
    leaders: dict[int, list[Person]] = {}
    for grant_team, person in session.execute(
        select(RoleGrant.team_id, Person)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(RoleGrant.role == "leader")
        .order_by(Person.name)
    ):
        if grant_team is not None:
            leaders.setdefault(grant_team, []).append(person)
    children: dict[int | None, list[Team]] = {}
    for team in teams:
        children.setdefault(team.parent_id, []).append(team)
    nodes: list[TreeNode] = []
    stack = [(team, 0) for team in reversed(children.get(None, []))]
    seen: set[int] = set()
    while stack:
        team, depth = stack.pop()
        if team.id in seen:
            continue
        seen.add(team.id)
        if include_archived or team.archived_at is None:
            nodes.append(TreeNode(team, depth, members.get(team.id, 0), leaders.get(team.id, [])))
        stack.extend((child, depth + 1) for child in reversed(children.get(team.id, [])))
    return nodes
