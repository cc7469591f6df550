"""A closed cycle with real answers, aggregated, for the team report and share tests.

Org → D1 → {Target, Big}, D2 → {Other}. Target's size is chosen per test (k − 1 or k); Big and
Other are large enough that no complementary hiding is forced when Target reaches k.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from pulse.actions.service import record_action, set_action_status
from pulse.answers.models import Comment, Response
from pulse.people.models import Person
from pulse.reporting.aggregation import rebuild_all
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree
from tests.support.answers import invite, set_thresholds

K = 5
COMMENT = "the planning meeting runs long"
# How add_actions' two kept actions read on a report page (tags dropped, spaces folded).
OWNED_ACTION = (
    "Write up one failed experiment a month Owner: Priya · Due: 15 Jan 2027 · Status: Planned"
)
OPEN_ACTION = (
    "Start each retro with what went well Owner: not set · Due: not set · Status: In progress"
)


@dataclass
class ReportWorld:
    teams: dict[str, Team]
    cycle: Cycle

    @property
    def target(self) -> Team:
        return self.teams["Target"]

    def url(self, team: str = "Target", suffix: str = "") -> str:
        return f"/reports/teams/{self.teams[team].id}/cycles/{self.cycle.id}{suffix}"


def build_world(session: Session, *, target_size: int, invited_extra: int = 2) -> ReportWorld:
    """Answers for Target (target_size), Big (9) and Other (8), comments on each, closed."""
    teams = make_tree(session, {"Target": ("D1", 0), "Big": ("D1", 0), "Other": ("D2", 0)})
    # Comments at the scores threshold, so that k − 1 and k are the boundary for both.
    set_thresholds(session, scores=K, comments=K)
    cycle = make_cycle(session)
    for name, size in (("Target", target_size), ("Big", 9), ("Other", 8)):
        rng = random.Random(size)
        for _ in range(size):
            values = {ci.item.code: rng.randint(2, 5) for ci in cycle.items}
            answer(session, cycle, teams[name], values)
    session.flush()
    for response in session.query(Response).filter(Response.team_id == teams["Target"].id):
        session.add(
            Comment(
                response_id=response.id,
                cycle_id=cycle.id,
                team_id=response.team_id,
                theme="safety",
                body=COMMENT,
            )
        )
    invite(session, cycle_id=cycle.id, team_id=teams["Target"].id, count=invited_extra)
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    return ReportWorld(teams=teams, cycle=cycle)


def add_actions(session: Session, world: ReportWorld, leader: Person) -> None:
    """Three actions on Target: one kept, one with owner and due date, one dropped."""
    kept = record_action(
        session,
        actor=leader,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        theme="safety",
        text="Start each retro with what went well",
    )
    record_action(
        session,
        actor=leader,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        theme="learning",
        text="Write up one failed experiment a month",
        owner="Priya",
        due_on=date(2027, 1, 15),
    )
    dropped = record_action(
        session,
        actor=leader,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        theme="ai",
        text="An abandoned idea nobody should see",
    )
    set_action_status(session, actor=leader, action_id=kept.id, status="in_progress")
    set_action_status(session, actor=leader, action_id=dropped.id, status="dropped")
    session.commit()
