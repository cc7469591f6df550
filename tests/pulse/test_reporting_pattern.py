"""One hiding pattern per cycle × group, sealed open cycles and honest states (issue 13)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment, Response
from pulse.instrument import THEMES
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.pattern import (
    OPEN_RATE_MIN_INVITED,
    coarse_rate,
    open_rate_shown,
    state_text,
)
from pulse.reporting.queries import (
    anchor_rows,
    comment_rows,
    compare_rows,
    item_rows,
    participation_rows,
    theme_rows,
)
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree
from tests.support.answers import close, invite, set_thresholds

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _answer_all(
    session: Session, cycle: Cycle, team: Team, count: int, *, comment: str | None = None
) -> None:
    rng = random.Random(count * 31 + team.id)
    commented = set(session.scalars(select(Comment.response_id)))
    for _ in range(count):
        answer(session, cycle, team, {ci.item.code: rng.randint(1, 5) for ci in cycle.items})
    if comment is not None:
        for response in session.scalars(
            select(Response).where(Response.team_id == team.id, Response.cycle_id == cycle.id)
        ):
            if response.id in commented:
                continue
            session.add(
                Comment(
                    response_id=response.id,
                    cycle_id=cycle.id,
                    team_id=team.id,
                    theme="safety",
                    body=comment,
                )
            )
    session.flush()


def _everything(
    session: Session, teams: dict[str, Team], cycle: Cycle, k: int
) -> dict[str, object]:
    ids = {t.id for t in teams.values()}
    rng = random.Random(0)
    return {
        "themes": theme_rows(session, team_ids=ids, threshold=k, cycle_ids=[cycle.id]),
        "items": item_rows(session, team_ids=ids, threshold=k, cycle_id=cycle.id),
        "anchors": {
            name: anchor_rows(session, team_id=t.id, threshold=k, cycle_ids=[cycle.id])
            for name, t in teams.items()
        },
        "comments": {
            name: sorted(
                r.body
                for r in comment_rows(
                    session, team_id=t.id, cycle_id=cycle.id, threshold=k, rng=rng
                )
            )
            for name, t in teams.items()
        },
        "participation": participation_rows(
            session, team_ids=ids, threshold=k, cycle_ids=[cycle.id]
        ),
    }


@BOTH
def test_the_sixth_answer_of_an_open_cycle_reveals_nothing(session: Session) -> None:
    """Attack 1: the figures before and after one more answer differ in nothing but a coarse
    participation step, so the difference cannot give that person's answers or comment."""
    teams = make_tree(session, {"A": ("D", 0)})
    set_thresholds(session, comments=5)
    cycle = make_cycle(session, closed=False)
    invite(session, cycle_id=cycle.id, team_id=teams["A"].id, count=15)
    _answer_all(session, cycle, teams["A"], 5, comment="five of us")
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    before = _everything(session, teams, cycle, 5)
    _answer_all(session, cycle, teams["A"], 1, comment="the sixth")
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    after = _everything(session, teams, cycle, 5)
    for report in (before, after):
        themes = report["themes"]
        assert themes and all(
            r.suppressed and r.n is None and r.mean is None and r.favourable_pct is None
            for r in themes  # type: ignore[attr-defined]
        )
        assert {r.reason for r in themes} == {"results when the cycle closes"}  # type: ignore[attr-defined]
        assert all(r.distribution is None and r.n is None for r in report["items"])  # type: ignore[attr-defined]
        anchors = report["anchors"]
        assert all(a.mean is None for rows in anchors.values() for a in rows)  # type: ignore[attr-defined]
        assert all(c == [] for c in report["comments"].values())  # type: ignore[attr-defined]
        assert all(p.responded is None for p in report["participation"])  # type: ignore[attr-defined]
    assert before["themes"] == after["themes"] and before["items"] == after["items"]
    rates = [
        {p.team: p.rate for p in report["participation"]}  # type: ignore[attr-defined]
        for report in (before, after)
    ]
    # 5 of 20 and 6 of 21 invited: both read 20 %, in steps of 10.
    assert rates[0]["A"] == rates[1]["A"] == 20
    # Once closed, the cycle's figures are shown.
    close(session, cycle)
    session.commit()
    closed = _everything(session, teams, cycle, 5)
    assert {r.n for r in closed["themes"] if r.team == "A"} == {6}  # type: ignore[attr-defined]
    assert "the sixth" in closed["comments"]["A"]  # type: ignore[index]


def test_an_open_cycle_shows_participation_in_steps_of_ten() -> None:
    assert [coarse_rate(r, 20) for r in range(0, 21, 2)] == [*range(0, 100, 10), 90]
    assert [coarse_rate(r, 30) for r in (2, 3, 5, 6)] == [0, 10, 10, 20]
    # Everyone reads as the step below: "100 %" would pin the count to the number invited.
    assert coarse_rate(19, 20) == coarse_rate(20, 20) == 90
    # From 20 invited, every step a leader can see fits at least two counts.
    for invited in range(OPEN_RATE_MIN_INVITED, 80):
        steps = [coarse_rate(r, invited) for r in range(invited + 1)]
        assert all(steps.count(step) >= 2 for step in steps)
    assert open_rate_shown(20) and not open_rate_shown(19)
    with pytest.raises(ValueError):
        coarse_rate(0, 0)


@BOTH
def test_every_measure_of_a_group_follows_one_pattern(session: Session) -> None:
    """Attack 3: a team hidden as the complement of a smaller sibling shows none of its
    measures, whatever each measure's own n: no anchor, item, comment or exact count."""
    teams = make_tree(session, {"Four": ("D", 0), "Seven": ("D", 0), "Nine": ("D2", 0)})
    cycle = make_cycle(session)
    invite(session, cycle_id=cycle.id, team_id=teams["Four"].id, count=3)
    _answer_all(session, cycle, teams["Four"], 4, comment="four")
    _answer_all(session, cycle, teams["Seven"], 7, comment="seven")
    _answer_all(session, cycle, teams["Nine"], 9, comment="nine")
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    report = _everything(session, teams, cycle, 5)
    themes = {(r.team, r.theme): r for r in report["themes"]}  # type: ignore[attr-defined]
    for theme in THEMES:
        assert themes[("Four", theme)].reason == "fewer than 5 responses"
        assert themes[("Seven", theme)].reason == "hidden so that a smaller group stays anonymous"
        assert themes[("D", theme)].n == 11 and themes[("Nine", theme)].n == 9
    seven = teams["Seven"].id
    assert all(
        r.n is None and r.distribution is None
        for r in report["items"]  # type: ignore[attr-defined]
        if r.team_id == seven
    )
    assert all(a.mean is None for a in report["anchors"]["Seven"])  # type: ignore[index]
    assert report["comments"]["Seven"] == [] and report["comments"]["Four"] == []  # type: ignore[index]
    assert report["comments"]["D"].count("four") == 4  # type: ignore[index]
    taking_part = {p.team: p for p in report["participation"]}  # type: ignore[attr-defined]
    assert taking_part["Seven"].responded is None and taking_part["Seven"].rate is None
    assert taking_part["Four"].responded is None and taking_part["Four"].rate is None
    assert taking_part["D"].responded == 11 and taking_part["Nine"].rate == 100
    # The rest of the organisation beside a hidden team is hidden too, with its reason.
    rows = compare_rows(session, team_id=seven, cycle_id=cycle.id, threshold=5)
    rest = [r for r in rows if r.team == "Rest of organisation"]
    assert rest and all(r.suppressed and r.n is None for r in rest)
    assert {r.reason for r in rest} == {"hidden so that a smaller group stays anonymous"}


@BOTH
def test_a_team_that_can_never_reach_k_says_where_its_answers_count(session: Session) -> None:
    teams = make_tree(session, {"Pair": ("D", 0), "Big": ("D", 0), "Other": ("D", 0)})
    cycle = make_cycle(session)
    _answer_all(session, cycle, teams["Pair"], 2)
    _answer_all(session, cycle, teams["Big"], 8)
    _answer_all(session, cycle, teams["Other"], 9)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    ids = {t.id for t in teams.values()}
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    pair = rows[("Pair", "safety")]
    assert pair.suppressed and pair.reason == state_text("too_small", k=5, parent="D")
    assert pair.reason == "too small to report on its own; its answers count towards D"
    assert rows[("Big", "safety")].reason == "hidden so that a smaller group stays anonymous"
    assert rows[("D", "safety")].n == 19 and rows[("Other", "safety")].n == 9


@BOTH
@pytest.mark.parametrize("k", [3, 5, 10])
def test_respondents_at_k_minus_one_and_k_decide_every_measure(session: Session, k: int) -> None:
    sizes = {"Below": ("D1", 0), "Peer": ("D1", 0), "Other": ("D1", 0), "At": ("D2", 0)}
    teams = make_tree(session, sizes)
    set_thresholds(session, scores=k, comments=k)
    cycle = make_cycle(session)
    invite(session, cycle_id=cycle.id, team_id=teams["Below"].id, count=1)
    # Below's department hides Peer with it, so Other stays and At stands alone in its own.
    _answer_all(session, cycle, teams["Peer"], 2 * k)
    _answer_all(session, cycle, teams["Other"], 2 * k)
    _answer_all(session, cycle, teams["Below"], k - 1, comment="below")
    _answer_all(session, cycle, teams["At"], k, comment="at")
    session.commit()
    rebuild_all(session, threshold=k)
    session.commit()
    report = _everything(session, teams, cycle, k)
    themes = {(r.team, r.theme): r for r in report["themes"]}  # type: ignore[attr-defined]
    assert themes[("Below", "safety")].reason == f"fewer than {k} responses"
    assert themes[("At", "safety")].n == k and not themes[("At", "safety")].suppressed
    assert report["comments"]["Below"] == [] and report["comments"]["At"] == ["at"] * k  # type: ignore[index]
    taking_part = {p.team: p for p in report["participation"]}  # type: ignore[attr-defined]
    assert taking_part["Below"].responded is None and taking_part["At"].responded == k
