"""The team tree: create, rename, move without loops, archive; leader grants."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from pulse.people.directory import membership_history, move_person, search_people, set_active
from pulse.people.models import Person
from pulse.teams.models import Team
from pulse.teams.tree import (
    TreeError,
    archive_team,
    assign_leader,
    create_team,
    leaders_of,
    move_team,
    remove_leader,
    rename_team,
    restore_team,
    team_tree,
)


@pytest.fixture
def tree(session: Session) -> dict[str, Team]:
    org = create_team(session, name="Acme", parent_id=None, kind="organisation")
    eng = create_team(session, name="Engineering", parent_id=org.id, kind="department")
    web = create_team(session, name="Web", parent_id=eng.id)
    ops = create_team(session, name="Ops", parent_id=org.id, kind="department")
    session.commit()
    return {"org": org, "eng": eng, "web": web, "ops": ops}


def test_tree_is_listed_depth_first(session: Session, tree: dict[str, Team]) -> None:
    nodes = team_tree(session)
    assert [(n.team.name, n.depth) for n in nodes] == [
        ("Acme", 0),
        ("Engineering", 1),
        ("Web", 2),
        ("Ops", 1),
    ]


def test_names_are_unique_ignoring_case_and_spaces(session: Session, tree: dict[str, Team]) -> None:
    with pytest.raises(TreeError, match="already a team named 'Web'"):
        create_team(session, name="  web ", parent_id=tree["eng"].id)
    rename_team(session, team_id=tree["web"].id, name="  Web   Team ")
    assert tree["web"].name == "Web Team"
    with pytest.raises(TreeError, match="needs a name"):
        rename_team(session, team_id=tree["web"].id, name="   ")


def test_moves_refuse_loops(session: Session, tree: dict[str, Team]) -> None:
    with pytest.raises(TreeError, match="would make a loop"):
        move_team(session, team_id=tree["eng"].id, parent_id=tree["web"].id)
    with pytest.raises(TreeError, match="would make a loop"):
        move_team(session, team_id=tree["eng"].id, parent_id=tree["eng"].id)
    with pytest.raises(TreeError, match="cannot be moved"):
        move_team(session, team_id=tree["org"].id, parent_id=tree["ops"].id)
    move_team(session, team_id=tree["web"].id, parent_id=tree["ops"].id)
    session.commit()
    assert tree["web"].parent_id == tree["ops"].id


def test_archive_needs_sub_teams_gone_first(session: Session, tree: dict[str, Team]) -> None:
    with pytest.raises(TreeError, match="still has 1 sub-team"):
        archive_team(session, team_id=tree["eng"].id)
    archive_team(session, team_id=tree["web"].id)
    archive_team(session, team_id=tree["eng"].id)
    assert tree["eng"].archived_at is not None
    with pytest.raises(TreeError, match="restore 'Engineering' first"):
        restore_team(session, team_id=tree["web"].id)
    with pytest.raises(TreeError, match="archived"):
        create_team(session, name="New", parent_id=tree["eng"].id)
    with pytest.raises(TreeError, match="organisation cannot be archived"):
        archive_team(session, team_id=tree["org"].id)


def test_assign_and_remove_leaders(session: Session, tree: dict[str, Team]) -> None:
    lee = Person(email="lee@example.org", name="Lee")
    session.add(lee)
    session.flush()
    assert assign_leader(session, person_id=lee.id, team_id=tree["web"].id) is True
    assert assign_leader(session, person_id=lee.id, team_id=tree["web"].id) is False
    session.commit()
    assert [p.email for p in leaders_of(session, team_id=tree["web"].id)] == ["lee@example.org"]
    assert remove_leader(session, person_id=lee.id, team_id=tree["web"].id) is True
    assert remove_leader(session, person_id=lee.id, team_id=tree["web"].id) is False
    session.commit()
    assert leaders_of(session, team_id=tree["web"].id) == []
    set_active(session, person_id=lee.id, active=False)
    with pytest.raises(TreeError, match="deactivated"):
        assign_leader(session, person_id=lee.id, team_id=tree["web"].id)


def test_directory_search_pages_and_moves(session: Session, tree: dict[str, Team]) -> None:
    for i in range(30):
        session.add(Person(email=f"p{i:02d}@example.org", name=f"Person {i:02d}"))
    session.flush()
    page = search_people(session, query="person 1", per_page=5)
    assert page.total == 10 and page.pages == 2
    assert [row.person.name for row in page.rows] == [f"Person 1{i}" for i in range(5)]
    second = search_people(session, query="", page=6, per_page=5)
    assert len(second.rows) == 5 and second.total == 30
    person = page.rows[0].person
    assert move_person(session, person_id=person.id, team_id=tree["web"].id, on=date(2026, 1, 5))
    assert move_person(session, person_id=person.id, team_id=tree["ops"].id, on=date(2026, 3, 1))
    assert not move_person(
        session, person_id=person.id, team_id=tree["ops"].id, on=date(2026, 4, 1)
    )
    history = [
        (team.name, m.started_on, m.ended_on)
        for m, team in membership_history(session, person_id=person.id)
    ]
    assert history == [
        ("Ops", date(2026, 3, 1), None),
        ("Web", date(2026, 1, 5), date(2026, 3, 1)),
    ]
    in_ops = search_people(session, team_id=tree["ops"].id)
    assert [row.person.id for row in in_ops.rows] == [person.id]
    assert in_ops.rows[0].teams == ["Ops"]
