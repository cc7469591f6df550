"""People import: validation by line, all or nothing, idempotence, moves and deactivation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Response
from pulse.db import utcnow
from pulse.people.importer import ImportRejected, import_people, parse_people_csv
from pulse.people.models import Person, RoleGrant
from pulse.surveys.bank import current_items
from pulse.surveys.cycles import create_cycle
from pulse.teams.models import Membership, Team
from pulse.teams.tree import archive_team
from tests.support.people_csv import bad_people_file, people_rows, to_csv

TODAY = date(2026, 11, 21)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_bad_file_reports_every_error_by_line_and_writes_nothing(session: Session) -> None:
    content, expected = bad_people_file(200)
    with pytest.raises(ImportRejected) as caught:
        import_people(session, content=content, on=TODAY)
    session.rollback()
    found = {error.line: error.reason for error in caught.value.errors}
    assert set(found) == set(expected)
    for line, reason in expected.items():
        assert found[line].startswith(reason), (line, found[line])
    assert "first on line 6" in found[31]
    assert count(session, Person) == 0
    assert count(session, Team) == 0


def test_good_file_of_200_creates_people_teams_memberships_and_leaders(session: Session) -> None:
    report = import_people(session, content=to_csv(people_rows(200)), on=TODAY)
    session.commit()
    assert report.people_created == 200
    assert report.teams_created == 1 + 3 + 8  # organisation, departments, teams
    assert report.memberships_started == 200
    assert report.leaders_granted == 3
    root = session.scalar(select(Team).where(Team.kind == "organisation"))
    assert root is not None and root.name == "Our organisation"
    platform = session.scalar(select(Team).where(Team.name == "Platform"))
    assert platform is not None and platform.parent is not None
    assert platform.parent.name == "Engineering" and platform.parent.parent is root
    assert count(session, Membership) == 200
    leader = session.scalar(select(Person).where(Person.email == "person0000@example.org"))
    assert leader is not None and leader.led_team_ids == [platform.id]
    assert report.leaders_without_password == [
        "person0000@example.org",
        "person0001@example.org",
        "person0002@example.org",
    ]


def test_reimporting_the_same_file_changes_nothing(session: Session) -> None:
    content = to_csv(people_rows(50))
    import_people(session, content=content, on=TODAY)
    session.commit()
    again = import_people(session, content=content, on=TODAY + timedelta(days=3))
    session.commit()
    assert again.people_unchanged == 50
    assert (again.people_created, again.people_updated, again.teams_created) == (0, 0, 0)
    assert (again.memberships_started, again.memberships_ended, again.leaders_granted) == (0, 0, 0)
    assert count(session, Membership) == 50


def test_bom_semicolons_quotes_blank_lines_and_trailing_spaces(session: Session) -> None:
    text = (
        "\ufeffEmail ; Name ; Team ; Department ; Role\r\n"
        "\r\n"
        'ann@example.org ; "Smith; Ann" ; Platform ; Engineering ; Leader \r\n'
        "   \r\n"
        "bob@example.org;Bob Jones;Platform;Engineering;\r\n"
        ";;;;\r\n"
    )
    parsed = parse_people_csv(text.encode("utf-8"))
    assert parsed.errors == []
    assert [(r.email, r.name, r.team, r.role) for r in parsed.rows] == [
        ("ann@example.org", "Smith; Ann", "Platform", "leader"),
        ("bob@example.org", "Bob Jones", "Platform", "member"),
    ]
    assert [r.line for r in parsed.rows] == [3, 5]


def test_quoted_fields_with_commas_and_line_breaks_keep_line_numbers() -> None:
    text = (
        "email,name,team\n"
        'carl@example.org,"Carl, the Second",Data\n'
        'dee@example.org,"Dee\nWith a break",Data\n'
        "bad-address,Eve,Data\n"
    )
    parsed = parse_people_csv(text)
    assert parsed.rows[0].name == "Carl, the Second"
    assert parsed.rows[1].name == "Dee With a break"
    assert [(e.line, e.reason) for e in parsed.errors] == [(5, "invalid email 'bad-address'")]


def test_mixed_case_emails_are_duplicates() -> None:
    text = "email,name,team\nAnn@Example.org,Ann,A\nann@example.ORG,Ann again,A\n"
    parsed = parse_people_csv(text)
    assert [(e.line, e.reason) for e in parsed.errors] == [
        (3, "duplicate email ann@example.org (first on line 2)")
    ]


def test_header_without_required_columns_is_refused() -> None:
    parsed = parse_people_csv("mail,name\nx@example.org,X\n")
    assert [(e.line, e.reason) for e in parsed.errors] == [
        (1, "the header lacks the column(s) email, team")
    ]
    assert parse_people_csv("").errors[0].reason.startswith("the file is empty")


def test_not_utf8_is_refused_with_its_line() -> None:
    parsed = parse_people_csv("email,name,team\nx@example.org,Zoë,A\n".encode("latin-1"))
    assert parsed.errors[0].line == 2
    assert "UTF-8" in parsed.errors[0].reason


def test_a_team_under_two_departments_is_an_error() -> None:
    text = "email,name,team,department\na@x.org,A,Web,Eng\nb@x.org,B,Web,Ops\nc@x.org,C,Eng,\n"
    reasons = {e.line: e.reason for e in parse_people_csv(text).errors}
    assert reasons[3].startswith("team 'Web' is under department 'Eng' on line 2")
    assert "both as a department and as a team" in reasons[2]


def test_moving_a_person_keeps_a_dated_membership_history(session: Session) -> None:
    import_people(session, content="email,name,team\nann@x.org,Ann,Web\n", on=TODAY)
    session.commit()
    later = TODAY + timedelta(days=30)
    report = import_people(session, content="email,name,team\nann@x.org,Ann,Data\n", on=later)
    session.commit()
    assert (report.people_updated, report.memberships_ended, report.memberships_started) == (
        1,
        1,
        1,
    )
    history = session.execute(
        select(Team.name, Membership.started_on, Membership.ended_on)
        .join(Team, Team.id == Membership.team_id)
        .order_by(Membership.started_on)
    ).all()
    assert [tuple(row) for row in history] == [("Web", TODAY, later), ("Data", later, None)]


def test_deactivate_missing_keeps_people_and_their_answers(session: Session) -> None:
    import_people(session, content=to_csv(people_rows(10)), on=TODAY)
    session.commit()
    team = session.scalar(select(Team).where(Team.name == "Platform"))
    assert team is not None
    opens = utcnow() - timedelta(days=20)
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="p1",
        sequence=0,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    anchor = current_items(session)["safety.anchor"]
    session.add(
        Response(
            cycle_id=cycle.id,
            team_id=team.id,
            submitted_on=TODAY,
            answers=[Answer(item_id=anchor.id, value=4)],
        )
    )
    session.commit()
    keep = to_csv(people_rows(10)[:6])
    without_flag = import_people(session, content=keep, on=TODAY)
    assert without_flag.people_deactivated == 0
    session.rollback()
    report = import_people(session, content=keep, on=TODAY, deactivate_missing=True)
    session.commit()
    assert report.people_deactivated == 4
    assert count(session, Person) == 10
    inactive = session.scalars(select(Person.email).where(Person.active.is_(False))).all()
    assert sorted(inactive) == [f"person{i:04d}@example.org" for i in range(6, 10)]
    assert count(session, Response) == 1 and count(session, Answer) == 1


def test_deactivate_missing_never_locks_out_admins(session: Session, make_user: object) -> None:
    admin = make_user("boss@example.org", role="admin")  # type: ignore[operator]
    report = import_people(
        session, content=to_csv(people_rows(3)), on=TODAY, deactivate_missing=True
    )
    session.commit()
    session.refresh(admin)
    assert report.people_deactivated == 0 and admin.active


def test_archived_team_and_loops_are_refused_with_nothing_written(session: Session) -> None:
    import_people(session, content="email,name,team,department\na@x.org,A,Web,Eng\n", on=TODAY)
    session.commit()
    before = count(session, Person)
    with pytest.raises(ImportRejected) as caught:
        import_people(
            session,
            content="email,name,team,department\nb@x.org,B,Eng,Web\n",
            on=TODAY,
        )
    session.rollback()
    assert [(e.line, e.reason) for e in caught.value.errors] == [
        (2, "'Web' is inside 'Eng'; it cannot become its parent")
    ]
    assert count(session, Person) == before
    web = session.scalar(select(Team).where(Team.name == "Web"))
    assert web is not None
    archive_team(session, team_id=web.id)
    session.commit()
    with pytest.raises(ImportRejected) as archived:
        import_people(session, content="email,name,team\nc@x.org,C,web\n", on=TODAY)
    session.rollback()
    assert [(e.line, e.reason) for e in archived.value.errors] == [(2, "team 'Web' is archived")]
    assert count(session, Person) == before


def test_leader_role_is_granted_once(session: Session) -> None:
    text = "email,name,team,role\nlee@x.org,Lee,Web,leader\n"
    first = import_people(session, content=text, on=TODAY)
    session.commit()
    second = import_people(session, content=text, on=TODAY)
    session.commit()
    assert (first.leaders_granted, second.leaders_granted) == (1, 0)
    assert count(session, RoleGrant) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_import_on_postgresql(session: Session) -> None:
    content = to_csv(people_rows(40), delimiter=";", bom=True)
    report = import_people(session, content=content, on=TODAY)
    session.commit()
    assert report.people_created == 40
    again = import_people(session, content=content, on=TODAY)
    assert again.people_unchanged == 40
