"""Team actions: validation, rights, audit, what the next pulse asks about, feedback at k."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.actions.service import (
    MAX_ACTION_LENGTH,
    actions_to_ask_about,
    feedback_summary,
    list_actions,
    record_action,
)
from pulse.answers.models import ActionFeedback, Response
from pulse.audit.models import AuditEvent
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Team

START = datetime(2026, 9, 7, 8, tzinfo=UTC)


def _cycle(session: Session, sequence: int, *, status: str = "closed") -> Cycle:
    opens = START + timedelta(weeks=2 * sequence)
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key=f"c{sequence}",
        sequence=sequence,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    cycle.status = status
    session.flush()
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


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_record_action_writes_it_with_an_audit_event(
    session: Session, leader: Person, teams: tuple[Team, Team]
) -> None:
    cycle = _cycle(session, 0)
    action = record_action(
        session,
        actor=leader,
        team_id=teams[0].id,
        cycle_id=cycle.id,
        theme="safety",
        text="  Start retros with one thing that went wrong  ",
    )
    session.commit()
    assert action.text == "Start retros with one thing that went wrong"
    assert [a.id for a in list_actions(session, team_id=teams[0].id)] == [action.id]
    event = session.scalars(select(AuditEvent)).one()
    assert (event.action, event.actor_id, event.target) == (
        "action.recorded",
        leader.id,
        f"team:{teams[0].id}",
    )
    assert event.detail["action_id"] == action.id


@pytest.mark.parametrize(
    ("text", "theme", "message"),
    [
        ("", "safety", "describe what the team agreed"),
        ("   \n ", "safety", "describe what the team agreed"),
        ("x" * (MAX_ACTION_LENGTH + 1), "safety", "under 500"),
        ("Fine", "morale", "unknown theme"),
    ],
)
def test_bad_input_writes_nothing(
    session: Session, leader: Person, teams: tuple[Team, Team], text: str, theme: str, message: str
) -> None:
    cycle = _cycle(session, 0)
    session.commit()
    with pytest.raises(ValueError, match=message):
        record_action(
            session, actor=leader, team_id=teams[0].id, cycle_id=cycle.id, theme=theme, text=text
        )
    session.rollback()
    assert _count(session, TeamAction) == 0 and _count(session, AuditEvent) == 0


def test_text_of_exactly_the_limit_is_kept(
    session: Session, leader: Person, teams: tuple[Team, Team]
) -> None:
    cycle = _cycle(session, 0)
    action = record_action(
        session,
        actor=leader,
        team_id=teams[0].id,
        cycle_id=cycle.id,
        theme="ai",
        text="y" * MAX_ACTION_LENGTH,
    )
    assert len(action.text) == MAX_ACTION_LENGTH


def test_leader_cannot_record_for_another_team_nor_for_an_open_cycle(
    session: Session, leader: Person, teams: tuple[Team, Team]
) -> None:
    closed, open_now = _cycle(session, 0), _cycle(session, 1, status="open")
    session.commit()
    with pytest.raises(PermissionError):
        record_action(
            session, actor=leader, team_id=teams[1].id, cycle_id=closed.id, theme="ai", text="x"
        )
    with pytest.raises(ValueError, match="once the cycle has closed"):
        record_action(
            session, actor=leader, team_id=teams[0].id, cycle_id=open_now.id, theme="ai", text="x"
        )
    with pytest.raises(ValueError, match="unknown survey cycle"):
        record_action(
            session, actor=leader, team_id=teams[0].id, cycle_id=99999, theme="ai", text="x"
        )
    session.rollback()
    assert _count(session, TeamAction) == 0


def _invite(session: Session, team: Team, cycle: Cycle, person: Person) -> None:
    session.add(Invitation(cycle_id=cycle.id, person_id=person.id, team_id=team.id))


def test_next_pulse_asks_about_actions_since_the_previous_cycle(
    session: Session, leader: Person, teams: tuple[Team, Team]
) -> None:
    mine = teams[0]
    first, second, third = _cycle(session, 0), _cycle(session, 1), _cycle(session, 2, status="open")
    for cycle in (first, second, third):
        _invite(session, mine, cycle, leader)
    old = TeamAction(
        team_id=mine.id,
        cycle_id=first.id,
        theme="safety",
        text="old",
        created_at=first.closes_at + timedelta(days=1),
    )
    recent = TeamAction(
        team_id=mine.id,
        cycle_id=second.id,
        theme="ai",
        text="recent",
        created_at=second.closes_at + timedelta(days=1),
    )
    elsewhere = TeamAction(
        team_id=teams[1].id,
        cycle_id=second.id,
        theme="ai",
        text="other",
        created_at=second.closes_at + timedelta(days=1),
    )
    session.add_all([old, recent, elsewhere])
    session.commit()
    assert [a.text for a in actions_to_ask_about(session, team_id=mine.id, cycle=third)] == [
        "recent"
    ]
    assert [a.text for a in actions_to_ask_about(session, team_id=mine.id, cycle=second)] == ["old"]
    assert actions_to_ask_about(session, team_id=mine.id, cycle=first) == []


def _feedback(
    session: Session, cycle: Cycle, team: Team, action: TeamAction, verdicts: list[str]
) -> None:
    for verdict in verdicts:
        response = Response(cycle_id=cycle.id, team_id=team.id, submitted_on=cycle.opens_at.date())
        session.add(response)
        session.flush()
        session.add(ActionFeedback(response_id=response.id, action_id=action.id, verdict=verdict))
    session.commit()


@pytest.mark.parametrize(("answers", "shown"), [(4, False), (5, True)])
def test_feedback_summary_needs_k_respondents(
    session: Session, leader: Person, teams: tuple[Team, Team], answers: int, shown: bool
) -> None:
    cycle = _cycle(session, 0)
    action = record_action(
        session,
        actor=leader,
        team_id=teams[0].id,
        cycle_id=cycle.id,
        theme="safety",
        text="Pair on incidents",
    )
    session.commit()
    verdicts = (["helped", "helped", "not_helped", "too_early", "helped"])[:answers]
    _feedback(session, cycle, teams[0], action, verdicts)
    summary = feedback_summary(session, action_ids=[action.id], threshold=5)[action.id]
    if shown:
        assert summary.respondents == 5
        assert summary.counts == {"helped": 3, "not_helped": 1, "too_early": 1}
        assert not summary.suppressed
    else:
        assert summary.suppressed and summary.counts is None and summary.respondents is None


def test_feedback_summary_of_nothing(session: Session) -> None:
    assert feedback_summary(session, action_ids=[], threshold=5) == {}
    with pytest.raises(ValueError):
        feedback_summary(session, action_ids=[1], threshold=2)
