"""The people directory: search and page through people, edit, move between teams, deactivate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pulse.people.models import Person
from pulse.people.service import AccountError, find_by_email, normalise_email
from pulse.teams.models import Membership, Team

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class PersonRow:
    person: Person
    teams: list[str]


@dataclass(frozen=True)
class PeoplePage:
    rows: list[PersonRow]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", max(1, math.ceil(self.total / self.per_page)))


def search_people(
    session: Session,
    *,
    query: str = "",
    team_id: int | None = None,
    include_inactive: bool = True,
    page: int = 1,
    per_page: int = 25,
) -> PeoplePage:
    """People whose name or email contains `query`, by name, one page at a time."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    conditions: list[ColumnElement[bool]] = []
    words = query.strip().lower()
    if words:
        like = f"%{words}%"
        conditions.append(or_(func.lower(Person.name).like(like), Person.email.like(like)))
    if not include_inactive:
        conditions.append(Person.active.is_(True))
    if team_id is not None:
        conditions.append(
            Person.id.in_(
                select(Membership.person_id).where(
                    Membership.team_id == team_id, Membership.ended_on.is_(None)
                )
            )
        )
    total = session.scalar(select(func.count()).select_from(Person).where(*conditions)) or 0
    people = list(
        session.scalars(
            select(Person)
            .where(*conditions)
            .order_by(func.lower(Person.name), Person.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    teams: dict[int, list[str]] = {}
    if people:
        for person_id, name in session.execute(
            select(Membership.person_id, Team.name)
            .join(Team, Team.id == Membership.team_id)
            .where(Membership.person_id.in_([p.id for p in people]), Membership.ended_on.is_(None))
            .order_by(Team.name)
        ):
            teams.setdefault(person_id, []).append(name)
    rows = [PersonRow(person, teams.get(person.id, [])) for person in people]
    return PeoplePage(rows=rows, total=total, page=page, per_page=per_page)


def get_person(session: Session, *, person_id: int) -> Person:
    """The person with this id, or AccountError."""
    person = session.get(Person, person_id)
    if person is None:
        raise AccountError(f"no person with id {person_id}")
    return person


def membership_history(session: Session, *, person_id: int) -> list[tuple[Membership, Team]]:
    """Every membership of the person, newest first, with its team."""
    query = (
        select(Membership, Team)
        .join(Team, Team.id == Membership.team_id)
        .where(Membership.person_id == person_id)
        .order_by(Membership.started_on.desc(), Membership.id.desc())
    )
    return [(m, t) for m, t in session.execute(query)]


def update_person(session: Session, *, person_id: int, name: str, email: str) -> dict[str, str]:
    """Change a person's name and email; returns what changed (field → new value)."""
    person = get_person(session, person_id=person_id)
    cleaned_name = " ".join(name.split())
    if not cleaned_name:
        raise AccountError("a person needs a name")
    address = normalise_email(email)
    other = find_by_email(session, email=address)
    if other is not None and other.id != person.id:
        raise AccountError(f"{address} already belongs to someone else")
    changes: dict[str, str] = {}
    if person.name != cleaned_name[:200]:
        person.name = cleaned_name[:200]
        changes["name"] = person.name
    if person.email != address:
        person.email = address
        changes["email"] = address
    session.flush()
    return changes


def move_person(session: Session, *, person_id: int, team_id: int, on: date) -> bool:
    """Make `team_id` the person's team from `on`: open memberships end that day, kept dated."""
    person = get_person(session, person_id=person_id)
    team = session.get(Team, team_id)
    if team is None:
        raise AccountError(f"no team with id {team_id}")
    if team.archived_at is not None:
        raise AccountError(f"{team.name!r} is archived")
    current = list(
        session.scalars(
            select(Membership).where(
                Membership.person_id == person.id, Membership.ended_on.is_(None)
            )
        )
    )
    if [m.team_id for m in current] == [team.id]:
        return False
    for membership in current:
        if membership.team_id != team.id:
            membership.ended_on = on
    if all(m.team_id != team.id for m in current):
        session.add(Membership(person_id=person.id, team_id=team.id, started_on=on))
    session.flush()
    return True


def set_active(session: Session, *, person_id: int, active: bool) -> bool:
    """Deactivate (never delete) or reactivate a person; False when nothing changed.

    A deactivated person gets no invitations and cannot sign in; their past answers live on
    the answer side, unlinked, and stay in the aggregates.
    """
    person = get_person(session, person_id=person_id)
    if person.active == active:
        return False
    person.active = active
    session.flush()
    return True
