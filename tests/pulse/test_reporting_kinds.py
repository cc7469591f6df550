"""Thresholds by kind: scores, participation and comments each hold at k − 1 and k, and each
cycle keeps the thresholds it opened with (raising applies at once, lowering later)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy.orm import Session

from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.queries import comment_rows, participation_rows, theme_rows
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.support.answers import invite, set_thresholds

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _comments(session: Session, team: Team, cycle_id: int, k: int) -> list[str]:
    rows = comment_rows(
        session, team_id=team.id, cycle_id=cycle_id, threshold=k, rng=random.Random(0)
    )
    return sorted(r.body for r in rows)


@BOTH
def test_comments_need_their_own_threshold_at_k_minus_one_and_k(session: Session) -> None:
    """Scores at 3, comments at 5. Four (k − 1) shows its scores but not its comments; Five's
    comments are hidden with them, or D1's comments minus Nine's and Five's would be exactly
    Four's. Exact (k), alone in D2, shows its comments."""
    teams = make_tree(
        session,
        {"Four": ("D1", 0), "Five": ("D1", 0), "Nine": ("D1", 0), "Exact": ("D2", 0)},
    )
    set_thresholds(session, scores=3, comments=5)
    cycle = make_cycle(session)
    for name, count in (("Four", 4), ("Five", 5), ("Nine", 9), ("Exact", 5)):
        _answer_all(session, cycle, teams[name], count, comment=f"{name} here")
    session.commit()
    rebuild_all(session, threshold=3)
    session.commit()
    scores = {
        r.team: r.n
        for r in theme_rows(session, team_ids={t.id for t in teams.values()}, threshold=3)
        if r.theme == "safety"
    }
    assert scores["Four"] == 4 and scores["Five"] == 5 and scores["Exact"] == 5
    assert _comments(session, teams["Four"], cycle.id, 3) == []
    assert _comments(session, teams["Five"], cycle.id, 3) == []
    assert _comments(session, teams["Nine"], cycle.id, 3) == ["Nine here"] * 9
    assert _comments(session, teams["Exact"], cycle.id, 3) == ["Exact here"] * 5
    department = _comments(session, teams["D1"], cycle.id, 3)
    assert sorted(set(department)) == ["Five here", "Four here", "Nine here"]
    assert len(department) == 18


@BOTH
def test_participation_needs_its_own_threshold_at_k_minus_one_and_k(session: Session) -> None:
    """Participation at 6 (by number invited), scores at 3: Five invited shows its scores but
    no number invited or rate; Six shows them. D3 (Seven) is hidden so that the organisation
    minus D2 cannot give D1's five."""
    teams = make_tree(
        session, {"Five": ("D1", 0), "Six": ("D2", 0), "Ten": ("D2", 0), "Seven": ("D3", 0)}
    )
    set_thresholds(session, scores=3, participation=6)
    cycle = make_cycle(session)
    for name, invited in (("Five", 5), ("Six", 6), ("Ten", 10), ("Seven", 7)):
        _answer_all(session, cycle, teams[name], 4)
        invite(session, cycle_id=cycle.id, team_id=teams[name].id, count=invited - 4)
    session.commit()
    rebuild_all(session, threshold=3)
    session.commit()
    ids = {t.id for t in teams.values()}
    rows = {r.team: r for r in participation_rows(session, team_ids=ids, threshold=3)}
    assert (rows["Five"].invited, rows["Five"].rate) == (None, None)
    assert (rows["Six"].invited, rows["Six"].responded, rows["Six"].rate) == (6, 4, 67)
    assert rows["D1"].invited is None and rows["D3"].invited is None
    assert rows["D2"].invited == 16 and rows["Org"].invited == 28
    scores = {r.team: r.n for r in theme_rows(session, team_ids=ids, threshold=3)}
    assert scores["Five"] == 4


@BOTH
def test_a_cycle_keeps_its_thresholds_lowering_waits_raising_applies(session: Session) -> None:
    teams = make_tree(session, {"A": ("D1", 0), "B": ("D2", 0)})
    set_thresholds(session, scores=6)
    before = make_cycle(session, sequence=0)
    set_thresholds(session, scores=4)
    after = make_cycle(session, sequence=1)
    for cycle in (before, after):
        _answer_all(session, cycle, teams["A"], 5)
        _answer_all(session, cycle, teams["B"], 7)
    session.commit()
    rebuild_all(session, threshold=4)
    session.commit()
    ids = {t.id for t in teams.values()}

    def shown(k: int) -> dict[int, int | None]:
        return {
            r.cycle_id: r.n
            for r in theme_rows(session, team_ids=ids, threshold=k)
            if r.team == "A" and r.theme == "safety"
        }

    # Lowered to 4 after the first cycle opened at 6: A's 5 show only in the later cycle.
    assert shown(4) == {before.id: None, after.id: 5}
    # Raised to 6 now: it applies to both at once.
    assert shown(6) == {before.id: None, after.id: None}
