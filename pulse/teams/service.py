"""The team tree: subtrees, ancestors, current members, and who may see which teams."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from pulse.people.models import Person
from pulse.reporting.fast import run_sql
from pulse.teams.models import Membership, Team


def children_map(session: Session) -> dict[int | None, list[int]]:
    """Parent id → child ids for the whole tree (one query; trees are small)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for team_id, parent_id in session.execute(select(Team.id, Team.parent_id)):
        children[parent_id].append(team_id)
    return children


def subtree_ids(session: Session, *, team_ids: set[int] | list[int]) -> set[int]:
    """The given teams and every team beneath them."""
    children = children_map(session)
    seen: set[int] = set()
    stack = list(team_ids)
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(children.get(current, []))
    return seen


def ancestor_ids(session: Session, *, team_id: int) -> list[int]:
    """The team's parents from nearest to the top (the team itself excluded)."""
    parents = dict(session.execute(select(Team.id, Team.parent_id)).all())
    chain: list[int] = []
    current = parents.get(team_id)
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def visible_team_ids(session: Session, *, person: Person) -> set[int]:
    """Teams whose reports `person` may read: all for admins, led subtrees for leaders."""
    if not person.active:
        return set()
    if person.is_admin:
        # Every request of an admin asks: ids off the cursor, not a thousand result rows.
        return {team_id for (team_id,) in run_sql(session, "SELECT id FROM teams")}
    return _led_subtrees(session, set(person.led_team_ids))


def _subtrees_query() -> Select[tuple[int]]:
    below = (
        select(Team.id)
        .where(Team.id.in_(bindparam("teams", expanding=True)))
        .cte("below", recursive=True)
    )
    below = below.union(select(Team.id).where(Team.parent_id == below.c.id))
    return select(below.c.id)


# Built once, with the led teams bound when it runs: building it cost more than running it.
_SUBTREES = _subtrees_query()


def _led_subtrees(session: Session, team_ids: set[int]) -> set[int]:
    """subtree_ids in one recursive query that reads only the teams beneath these: a leader's
    every request asks, and reading the whole tree made it cost as much as the organisation."""
    if not team_ids:
        return set()
    return team_ids | set(session.scalars(_SUBTREES, {"teams": sorted(team_ids)}))


def current_member_ids(session: Session, *, team_id: int, on: date) -> list[int]:
    """Active people who are members of the team on the given day."""
    query = (
        select(Membership.person_id)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.team_id == team_id,
            Membership.started_on <= on,
            (Membership.ended_on.is_(None)) | (Membership.ended_on > on),
            Person.active.is_(True),
        )
    )
    return list(session.scalars(query))
