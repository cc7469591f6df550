"""A small organisation with real answers, aggregated, for the API and its schema tests.

Org → Engineering → {Alpha: 9 answers, Beta: 3 answers (fewer than k)}, Operations → Gamma
(12 answers); one closed cycle and one still open (sealed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.reporting.aggregation import rebuild_all
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from pulse.tokens.service import create_token
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree

K = 5
SIZES = {"Alpha": 9, "Beta": 3, "Gamma": 12}


@dataclass
class ApiWorld:
    teams: dict[str, Team]
    closed: Cycle
    open: Cycle

    def id(self, name: str) -> int:
        return self.teams[name].id


def build_world(session: Session) -> ApiWorld:
    teams = make_tree(
        session,
        {"Alpha": ("Engineering", 0), "Beta": ("Engineering", 0), "Gamma": ("Operations", 0)},
    )
    closed = make_cycle(session, 0)
    still_open = make_cycle(session, 1, closed=False)
    rng = random.Random(17)
    for cycle in (closed, still_open):
        for name, size in SIZES.items():
            for _ in range(size):
                values = {ci.item.code: rng.randint(1, 5) for ci in cycle.items}
                answer(session, cycle, teams[name], values)
    session.add(
        TeamAction(team_id=teams["Alpha"].id, cycle_id=closed.id, theme="safety", text="Retro")
    )
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    return ApiWorld(teams=teams, closed=closed, open=still_open)


def api_token(session: Session, name: str, role: str = "admin", team: str | None = None) -> str:
    """A new API token's secret."""
    secret = create_token(session, kind="api", name=name, role=role, team_name=team).secret
    session.commit()
    return secret
