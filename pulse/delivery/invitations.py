"""Inviting the current members of a cycle's target teams (each team with its subtree)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.dirty import mark_dirty
from pulse.reporting.trees import snapshot_tree
from pulse.surveys.models import Cycle
from pulse.teams.models import Membership, Team
from pulse.teams.service import subtree_ids


def create_invitations(
    session: Session, *, cycle: Cycle, target_team_ids: set[int], on: date
) -> int:
    """Invite every active current member of the targeted subtrees once; returns how many new.

    The cycle's snapshot of the team tree is taken (or, for teams created since, extended)
    first: every figure of the cycle is computed on it (pulse.reporting.trees).
    """
    snapshot_tree(session, cycle_id=cycle.id)
    teams = subtree_ids(session, team_ids=target_team_ids)
    members = session.execute(
        select(Membership.person_id, Membership.team_id)
        .join(Person, Person.id == Membership.person_id)
        .join(Team, Team.id == Membership.team_id)
        .where(
            Membership.team_id.in_(teams),
            Membership.started_on <= on,
            (Membership.ended_on.is_(None)) | (Membership.ended_on > on),
            Person.active.is_(True),
            Team.archived_at.is_(None),
        )
        .order_by(Membership.person_id)
    ).all()
    already = set(
        session.scalars(select(Invitation.person_id).where(Invitation.cycle_id == cycle.id))
    )
    created = 0
    invited_teams: set[int] = set()
    for person_id, team_id in members:
        if person_id in already:
            continue  # a person in two teams is invited once, under the first membership
        session.add(Invitation(cycle_id=cycle.id, person_id=person_id, team_id=team_id))
        already.add(person_id)
        invited_teams.add(team_id)
        created += 1
    session.flush()
    # Participation counts exist from the start: a team's row must not first appear with
    # its first answer, which would show that answer as a step of its own.
    for team_id in sorted(invited_teams):
        mark_dirty(session, team_id=team_id, cycle_id=cycle.id)
    return created
