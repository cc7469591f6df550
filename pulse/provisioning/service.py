"""Mirroring provisioned users and groups onto people, teams and memberships.

Provisioning touches the identity side only. Deprovisioning never deletes: a person is
deactivated (their past invitations stay counted in the cycles they belonged to) and a
team is archived with its memberships ended, because every closed cycle keeps its snapshot.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.people.models import Person
from pulse.teams.models import Membership, Team


class ProvisioningConflict(ValueError):
    """Another provisioned resource already owns that email address or team name."""


def provision_person(
    session: Session,
    *,
    person_id: int | None,
    email: str,
    name: str,
    active: bool,
    owned_person_ids: Collection[int],
) -> Person:
    """Create or update the person a provisioned user stands for.

    An existing person with the same email who is not provisioned yet (imported from CSV,
    say) is adopted rather than duplicated; one provisioned by another user is a conflict.
    """
    email = email.strip().lower()[:254]
    person = session.get(Person, person_id) if person_id is not None else None
    same_email = session.scalar(select(Person).where(Person.email == email))
    if same_email is not None and same_email is not person:
        # Adopt an unprovisioned person on creation; never take another's email on update.
        if same_email.id in owned_person_ids or person is not None:
            raise ProvisioningConflict(f"{email} belongs to another person")
        person = same_email
    if person is None:
        person = Person(email=email, name=name[:200] or email, active=active)
        session.add(person)
    else:
        person.email = email
        person.name = name[:200] or email
        person.active = active
    session.flush()
    return person


def retire_person(session: Session, *, person_id: int | None) -> None:
    """A deprovisioned person stops being invited and cannot sign in; history stays."""
    person = session.get(Person, person_id) if person_id is not None else None
    if person is not None:
        person.active = False


def provision_team(
    session: Session,
    *,
    team_id: int | None,
    name: str,
    member_ids: Collection[int],
    owned_team_ids: Collection[int],
    today: date,
) -> Team:
    """Create or update the team a provisioned group stands for, and its current members.

    A new team hangs under the organisation (the one root team), where an admin can move it.
    """
    name = name.strip()[:120] or "Unnamed group"
    team = session.get(Team, team_id) if team_id is not None else None
    same_name = session.scalar(select(Team).where(Team.name == name))
    if same_name is not None and same_name is not team:
        if same_name.id in owned_team_ids or team is not None:
            raise ProvisioningConflict(f"a team named {name!r} exists")
        team = same_name
    if team is None:
        root = session.scalar(
            select(Team.id).where(Team.parent_id.is_(None), Team.kind == "organisation").limit(1)
        )
        team = Team(name=name, kind="team", parent_id=root)
        session.add(team)
    else:
        team.name = name
        team.archived_at = None
    session.flush()
    current = {
        m.person_id: m
        for m in session.scalars(
            select(Membership).where(Membership.team_id == team.id, Membership.ended_on.is_(None))
        )
    }
    wanted = set(member_ids)
    for person_id, membership in current.items():
        if person_id not in wanted:
            membership.ended_on = today
    for person_id in wanted - set(current):
        session.add(Membership(person_id=person_id, team_id=team.id, started_on=today))
    session.flush()
    return team


def retire_team(session: Session, *, team_id: int | None, today: date) -> None:
    """A deprovisioned group's team is archived and its memberships end; history stays."""
    team = session.get(Team, team_id) if team_id is not None else None
    if team is None:
        return
    team.archived_at = utcnow()
    for membership in session.scalars(
        select(Membership).where(Membership.team_id == team.id, Membership.ended_on.is_(None))
    ):
        membership.ended_on = today
