"""Actions carry follow-through: an owner, a due date and a status, each change audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.actions.service import list_actions, record_action, set_action_status
from pulse.audit.models import AuditEvent
from pulse.people.models import Person
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Team


@pytest.fixture
def closed_cycle(session: Session) -> Cycle:
    opens = datetime(2026, 9, 7, 8, tzinfo=UTC)
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="c0",
        sequence=0,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    cycle.status = "closed"
    session.commit()
    return cycle


@pytest.fixture
def teams(session: Session) -> tuple[Team, Team]:
    mine, other = Team(name="Platform"), Team(name="Finance")
    session.add_all([mine, other])
    session.commit()
    return mine, other


@pytest.fixture
def leader(make_user: Callable[..., Person], teams: tuple[Team, Team]) -> Person:
    return make_user("lead@example.org", role="leader", team="Platform")


def test_owner_and_due_date_are_kept_and_status_starts_planned(
    session: Session, leader: Person, teams: tuple[Team, Team], closed_cycle: Cycle
) -> None:
    mine, _ = teams
    record_action(
        session,
        actor=leader,
        team_id=mine.id,
        cycle_id=closed_cycle.id,
        theme="safety",
        text="Open each retro with one thing that went wrong",
        owner="  Priya  ",
        due_on=date(2026, 10, 1),
    )
    session.commit()
    (action,) = list_actions(session, team_id=mine.id)
    assert (action.owner, action.due_on, action.status) == ("Priya", date(2026, 10, 1), "planned")


def test_status_moves_are_audited_and_checked(
    session: Session,
    leader: Person,
    teams: tuple[Team, Team],
    closed_cycle: Cycle,
    make_user: Callable[..., Person],
) -> None:
    mine, _ = teams
    action = record_action(
        session,
        actor=leader,
        team_id=mine.id,
        cycle_id=closed_cycle.id,
        theme="learning",
        text="Write down what we expect before each experiment",
    )
    session.commit()
    set_action_status(session, actor=leader, action_id=action.id, status="done")
    session.commit()
    assert action.status == "done"
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "action.status"))
    assert [e.detail for e in events] == [{"action_id": action.id, "from": "planned", "to": "done"}]
    with pytest.raises(ValueError):
        set_action_status(session, actor=leader, action_id=action.id, status="finished")
    outsider = make_user("finance.lead@example.org", role="leader", team="Finance")
    with pytest.raises(PermissionError):
        set_action_status(session, actor=outsider, action_id=action.id, status="dropped")
    session.rollback()
    session.refresh(action)
    assert action.status == "done"


def test_owner_too_long_is_refused(
    session: Session, leader: Person, teams: tuple[Team, Team], closed_cycle: Cycle
) -> None:
    with pytest.raises(ValueError, match="owner"):
        record_action(
            session,
            actor=leader,
            team_id=teams[0].id,
            cycle_id=closed_cycle.id,
            theme="ai",
            text="Pair on the assistant's output",
            owner="x" * 121,
        )
