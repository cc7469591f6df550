"""The single-pass, vectorised aggregation agrees exactly with the SQL GROUP BY path."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Response
from pulse.instrument import ENPS_ITEM
from pulse.reporting import compute, fast
from pulse.reporting.trees import CycleTrees
from pulse.surveys.bank import add_version
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle, Schedule
from pulse.teams.models import Team
from tests.support.answers import respond

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _populate(session: Session, seed: int) -> list[int]:
    rng = random.Random(seed)
    org = Team(name="Org", kind="organisation")
    session.add(org)
    session.flush()
    teams = []
    for d in range(2):
        dept = Team(name=f"D{d}", kind="department", parent_id=org.id)
        session.add(dept)
        session.flush()
        for t in range(3):
            team = Team(name=f"T{d}.{t}", parent_id=dept.id)
            session.add(team)
            session.flush()
            teams.append(team.id)
    schedule = Schedule(name="s", program="rotating", start_date=START.date())
    session.add(schedule)
    session.flush()
    cycles: list[Cycle] = []
    for sequence in range(4):
        opens = START + timedelta(weeks=2 * sequence)
        cycles.append(
            create_cycle(
                session,
                schedule_id=schedule.id,
                period_key=f"p{sequence}",
                sequence=sequence,
                program="rotating" if sequence % 2 else "full",
                opens_at=opens,
                closes_at=opens + timedelta(days=5),
            )
        )
    for cycle in cycles:
        items = [ci.item_id for ci in cycle.items]
        for team in teams:
            for _ in range(rng.randint(0, 7)):
                response = respond(
                    session, cycle_id=cycle.id, team_id=team, answers=[], submitted_on=START.date()
                )
                for item in items:
                    if rng.random() < 0.1:
                        continue  # not even a row: skipped entirely
                    value = None if rng.random() < 0.2 else rng.randint(1, 5)
                    session.add(Answer(response_id=response.id, item_id=item, value=value))
    session.flush()
    return [cycle.id for cycle in cycles]


def _same(left: object, right: object) -> None:
    for name in left.__dataclass_fields__:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name), err_msg=name)


@BOTH
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_single_pass_matches_group_by(session: Session, seed: int) -> None:
    cycles = _populate(session, seed)
    tree = CycleTrees.load(session)
    for scope in (None, [cycles[1]], cycles[2:]):
        asked = compute.asked_items(session, cycle_ids=scope)
        answers = fast.fetch_answers(session, cycle_ids=scope)
        scores = compute.scores_from_answers(answers, compute.ItemTable.load(session), asked)
        expected = compute.person_scores(session, cycle_ids=scope, asked=asked)
        assert len(expected.score) > 0
        _same(scores, expected)
        _same(
            compute.items_from_answers(answers, tree),
            compute.item_stats(session, cycle_ids=scope, tree=tree),
        )


@BOTH
def test_single_pass_with_no_answers(session: Session) -> None:
    tree = CycleTrees.load(session)
    answers = fast.fetch_answers(session, cycle_ids=[12345])
    assert answers.shape == (0, 5)
    assert len(compute.scores_from_answers(answers, compute.ItemTable.load(session), {}).score) == 0
    assert len(compute.items_from_answers(answers, tree)) == 0


@BOTH
def test_wide_fetch_matches_packed_fetch(session: Session) -> None:
    # The one-column packing falls back to plain columns for item ids past its range.
    cycles = _populate(session, 4)
    postgres = session.get_bind().dialect.name == "postgresql"
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    for scope in (None, cycles[1:3]):
        where = fast._cycle_where(scope)
        if postgres:
            wide = fast._fetch_answers_postgresql_wide(cursor, where)
            packed = fast._fetch_answers_postgresql(cursor, scope)
        else:
            wide = fast._fetch_answers_sqlite_wide(cursor, where)
            packed = fast._fetch_answers_sqlite(cursor, scope)
        assert len(packed) > 0
        assert by_response(packed) == by_response(wide)
    cursor.close()


def by_response(answers: np.ndarray) -> Counter[tuple[tuple[int, ...], ...]]:
    """Each response's answers as (team, cycle, item, value) rows, whatever it is numbered."""
    grouped: dict[int, list[tuple[int, ...]]] = {}
    for number, *row in answers.tolist():
        grouped.setdefault(number, []).append(tuple(row))
    return Counter(tuple(sorted(rows)) for rows in grouped.values())


@BOTH
def test_an_answer_off_every_scale_fails_loudly_instead_of_being_misread(
    session: Session,
) -> None:
    """Values are packed into 8 bits: one that cannot fit must raise, not alias."""
    _populate(session, 1)
    one = session.scalars(select(Answer).where(Answer.value.is_not(None)).limit(1)).one()
    session.execute(
        update(Answer)
        .where(Answer.response_id == one.response_id, Answer.item_id == one.item_id)
        .values(value=300)
    )
    session.commit()
    with pytest.raises(ValueError, match=r"outside 0\.\.254"):
        fast.fetch_answers(session, cycle_ids=None)
    session.execute(update(Answer).values(value=300))
    session.commit()
    with pytest.raises(ValueError, match=r"outside 0\.\.254"):
        fast.fetch_answers(session, cycle_ids=None)


@BOTH
def test_single_pass_leaves_items_without_a_theme_out_of_the_scores(session: Session) -> None:
    """An eNPS answer has no theme: it counts in its item's distribution, never in a score."""
    cycles = _populate(session, 4)
    enps = add_version(session, current=None, definition=ENPS_ITEM)
    rng = random.Random(4)
    for response in session.scalars(select(Response).where(Response.cycle_id == cycles[0])):
        session.add(Answer(response_id=response.id, item_id=enps.id, value=rng.randint(0, 10)))
    session.flush()
    asked = compute.asked_items(session, cycle_ids=None)
    answers = fast.fetch_answers(session, cycle_ids=None)
    assert enps.id in set(answers[:, 3].tolist())
    _same(
        compute.scores_from_answers(answers, compute.ItemTable.load(session), asked),
        compute.person_scores(session, cycle_ids=None, asked=asked),
    )
    tree = CycleTrees.load(session)
    _same(
        compute.items_from_answers(answers, tree),
        compute.item_stats(session, cycle_ids=None, tree=tree),
    )
