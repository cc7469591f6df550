"""A leader's scope is read from the teams beneath theirs only, and is the whole subtree."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from pulse.people.models import Person, RoleGrant
from pulse.teams.models import Team
from pulse.teams.service import subtree_ids, visible_team_ids

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _team(session: Session, name: str, parent: Team | None, kind: str = "team") -> Team:
    team = Team(name=name, kind=kind, parent_id=None if parent is None else parent.id)
    session.add(team)
    session.flush()
    return team


@BOTH
def test_a_leaders_scope_is_every_team_beneath_theirs_and_no_other(session: Session) -> None:
    org = _team(session, "Org", None, "organisation")
    led, other = _team(session, "Led", org, "department"), _team(session, "Other", org)
    middle = _team(session, "Middle", led, "department")
    deep = [_team(session, f"Deep {i}", middle) for i in range(3)]
    beside = _team(session, "Beside", other)
    leader = Person(email="lead@example.org", name="Lead")
    leader.roles.append(RoleGrant(role="leader", team_id=led.id))
    session.add(leader)
    session.flush()
    scope = visible_team_ids(session, person=leader)
    assert scope == {led.id, middle.id, *(t.id for t in deep)}
    assert scope == subtree_ids(session, team_ids=[led.id])
    assert org.id not in scope and beside.id not in scope
