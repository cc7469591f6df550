"""Reporting queries on a real database: comments, participation, compare, item versions."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment, Response
from pulse.confidentiality import round_pct
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.models import ThemeAggregate
from pulse.reporting.queries import comment_rows, compare_rows, participation_rows
from pulse.stats import clustered_wilson
from pulse.surveys.items import edit_item_wording
from pulse.surveys.models import Item
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree
from tests.support.answers import set_thresholds

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _respond(session: Session, cycle: object, team: object, count: int, comment: str) -> None:
    rng = random.Random(count)
    for _ in range(count):
        answer(session, cycle, team, {ci.item.code: rng.randint(1, 5) for ci in cycle.items})  # type: ignore[attr-defined]
    for response in session.scalars(
        select(Response).where(Response.team_id == team.id)  # type: ignore[attr-defined]
    ):
        session.add(
            Comment(
                response_id=response.id,
                cycle_id=response.cycle_id,
                team_id=response.team_id,
                theme="safety",
                body=comment,
            )
        )


@BOTH
def test_comments_only_at_k_and_never_by_subtraction(session: Session) -> None:
    teams = make_tree(session, {"Four": ("D", 0), "Five": ("D", 0), "Six": ("D", 0)})
    set_thresholds(session, comments=5)
    cycle = make_cycle(session)
    _respond(session, cycle, teams["Four"], 4, "four says hi")
    _respond(session, cycle, teams["Five"], 5, "  ")
    _respond(session, cycle, teams["Six"], 6, "six says hi")
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    rng = random.Random(1)

    def bodies(name: str) -> list[str]:
        rows = comment_rows(
            session, team_id=teams[name].id, cycle_id=cycle.id, threshold=5, rng=rng
        )
        return sorted(r.body for r in rows)

    assert bodies("Four") == []  # k − 1
    # Five has k respondents but is the next-smallest sibling of a hidden team: showing it
    # beside the department would give Four's comments away by difference.
    assert bodies("Five") == []
    assert bodies("Six") == ["six says hi"] * 6
    # The department shows everything; its visible child explains 6, the rest is 9 ≥ k.
    dept = bodies("D")
    assert dept.count("four says hi") == 4 and "" not in dept and len(dept) == 10


@BOTH
def test_participation_only_where_k_were_invited(session: Session) -> None:
    teams = make_tree(session, {"Small": ("D", 0), "Big": ("D", 0), "Other": ("D", 0)})
    cycle = make_cycle(session)
    sizes = {"Small": 4, "Big": 5, "Other": 9}
    for name, size in sizes.items():
        for i in range(size):
            person = Person(email=f"{name}{i}@example.org".lower(), name=name)
            session.add(person)
            session.flush()
            session.add(
                Invitation(
                    cycle_id=cycle.id, person_id=person.id, team_id=teams[name].id, answered=i < 3
                )
            )
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    rows = {
        r.team: r
        for r in participation_rows(session, team_ids={t.id for t in teams.values()}, threshold=5)
    }
    assert (rows["Small"].invited, rows["Small"].rate) == (None, None)
    assert rows["Big"].invited is None  # complementary: the next-smallest sibling
    # Other's 3 who answered are its n, below k: neither they nor the rate are shown.
    assert (rows["Other"].invited, rows["Other"].responded, rows["Other"].rate) == (9, None, None)
    assert rows["Other"].reason == "fewer than 5 responses"
    assert (rows["D"].invited, rows["D"].responded, rows["D"].rate) == (18, 9, 50)


@BOTH
def test_compare_shows_the_rest_only_when_nothing_is_revealed(session: Session) -> None:
    teams = make_tree(session, {"A": ("D1", 0), "B": ("D2", 0), "C": ("D2", 0)})
    cycle = make_cycle(session)
    for name, size in (("A", 6), ("B", 7), ("C", 8)):
        rng = random.Random(size)
        for _ in range(size):
            answer(
                session, cycle, teams[name], {ci.item.code: rng.randint(1, 5) for ci in cycle.items}
            )
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    rows = compare_rows(session, team_id=teams["B"].id, cycle_id=cycle.id, threshold=5)
    by = {(r.team, r.theme): r for r in rows}
    rest = by[("Rest of organisation", "safety")]
    org = by[("Org", "safety")]
    team = by[("B", "safety")]
    assert not rest.suppressed and rest.n == 14 and org.n == 21 and team.n == 7
    # The rest's favourable share is that of A and C together: answers, not people, counted.
    stored = {
        name: session.get(ThemeAggregate, (teams[name].id, cycle.id, "safety"))
        for name in ("A", "C")
    }
    fields = ("favourable_n", "answers_n", "favourable_sq", "favourable_cross", "answers_sq")
    sums = [sum(getattr(stored[name], field) for name in ("A", "C")) for field in fields]
    low, high = clustered_wilson(*sums, 14)
    assert rest.favourable_pct == round_pct(100 * sums[0] / sums[1])
    assert (rest.fav_low, rest.fav_high) == (round_pct(100 * low[0]), round_pct(100 * high[0]))
    # With k = 8 the team itself is hidden, and so is the rest (it would give the team away).
    rows = compare_rows(session, team_id=teams["B"].id, cycle_id=cycle.id, threshold=8)
    by = {(r.team, r.theme): r for r in rows}
    assert by[("B", "safety")].suppressed and by[("Rest of organisation", "safety")].suppressed
    assert by[("Rest of organisation", "safety")].n is None


def test_editing_wording_makes_a_new_version(session: Session) -> None:
    old = session.scalars(
        select(Item).where(Item.code == "safety.voice", Item.retired_at.is_(None))
    ).one()
    new = edit_item_wording(
        session, code="safety.voice", wording="  Problems   can be raised here. "
    )
    session.commit()
    assert new.id != old.id and new.version == old.version + 1
    assert new.wording == "Problems can be raised here." and old.retired_at is not None
    assert (
        edit_item_wording(session, code="safety.voice", wording="Problems can be raised here.")
        is new
    )
    with pytest.raises(ValueError, match="unknown item code"):
        edit_item_wording(session, code="nope", wording="x")
    with pytest.raises(ValueError, match="some wording"):
        edit_item_wording(session, code="safety.voice", wording="   ")
