"""Aggregate writes touch only what changed: reruns rewrite nothing, stale rows are deleted."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from pulse.answers.models import Answer, Response
from pulse.db import make_engine, make_session_factory
from pulse.delivery.models import Invitation
from pulse.reporting.aggregation import aggregate_dirty, aggregate_team_cycle, rebuild_all
from pulse.reporting.dirty import mark_dirty
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.reporting.store import upsert
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.support.answers import respond

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
STAMP = datetime(2026, 2, 1, 12, tzinfo=UTC)


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


def make_org(session: Session, b_size: int = 5) -> tuple[dict[str, Team], Cycle]:
    """Org → D → teams A (6 people) and B (5), one full cycle, answers marked dirty."""
    org = Team(name="Org", kind="organisation")
    session.add(org)
    session.flush()
    dept = Team(name="D", kind="department", parent_id=org.id)
    session.add(dept)
    session.flush()
    teams = {"Org": org, "D": dept}
    for name in ("A", "B"):
        teams[name] = Team(name=name, parent_id=dept.id)
        session.add(teams[name])
    session.flush()
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="p0",
        sequence=0,
        program="full",
        opens_at=START,
        closes_at=START + timedelta(days=5),
    )
    rng = random.Random(7)
    for name, size in (("A", 6), ("B", b_size)):
        for _ in range(size):
            answer(session, cycle, teams[name], rng)
    session.commit()
    return teams, cycle


def answer(session: Session, cycle: Cycle, team: Team, rng: random.Random) -> None:
    respond(
        session,
        cycle_id=cycle.id,
        team_id=team.id,
        answers=[Answer(item_id=ci.item_id, value=rng.randint(1, 5)) for ci in cycle.items],
        submitted_on=date(2026, 1, 6),
    )
    mark_dirty(session, team_id=team.id, cycle_id=cycle.id)


Rows = dict[tuple[str, int, object], dict[str, Any]]


def stored(session: Session) -> Rows:
    """Every aggregate row with every column, plus its row version on PostgreSQL."""
    session.expire_all()
    version = "xmin::text" if session.get_bind().dialect.name == "postgresql" else "NULL"
    rows: Rows = {}
    for table, key in (
        ("theme_aggregates", "theme"),
        ("item_aggregates", "item_id"),
        ("participation", "cycle_id"),
    ):
        for row in session.execute(text(f"SELECT *, {version} AS version FROM {table}")):
            values = dict(row._mapping)
            rows[(table, values["team_id"], values[key])] = values
    return rows


def figures(rows: Rows) -> Rows:
    """The rows without their id, computed_at and row version."""
    hidden = {"id", "computed_at", "version"}
    return {k: {c: v for c, v in row.items() if c not in hidden} for k, row in rows.items()}


def computed_at(session: Session, team: Team) -> set[datetime]:
    session.expire_all()
    return set(
        session.scalars(select(ThemeAggregate.computed_at).where(ThemeAggregate.team_id == team.id))
    ) | set(
        session.scalars(select(ItemAggregate.computed_at).where(ItemAggregate.team_id == team.id))
    )


@BOTH
def test_a_rerun_that_changes_nothing_rewrites_nothing(session: Session) -> None:
    teams, cycle = make_org(session)
    rebuild_all(session, threshold=5)
    session.commit()
    first = stored(session)
    assert first
    rebuild_all(session, threshold=5)
    session.commit()
    aggregate_team_cycle(session, team_id=teams["A"].id, cycle_id=cycle.id, threshold=5)
    session.commit()
    mark_dirty(session, team_id=teams["B"].id, cycle_id=cycle.id)
    assert aggregate_dirty(session, threshold=5) == 1
    session.commit()
    # Same rows, same ids, same computed_at and, on PostgreSQL, the same row versions.
    assert stored(session) == first


@BOTH
def test_a_rerun_keeps_rows_hidden_by_complementary_suppression_as_they_are(
    session: Session,
) -> None:
    teams, cycle = make_org(session, b_size=4)
    rebuild_all(session, threshold=5)
    session.commit()
    first = stored(session)
    # B (4 < k) is hidden, and so is A (6), since D minus A would give B away.
    hidden = {k[1] for k, row in first.items() if k[0] == "theme_aggregates" and row["suppressed"]}
    assert hidden == {teams["A"].id, teams["B"].id}
    rebuild_all(session, threshold=5)
    session.commit()
    aggregate_team_cycle(session, team_id=teams["A"].id, cycle_id=cycle.id, threshold=5)
    session.commit()
    assert stored(session) == first


@BOTH
def test_only_the_rows_whose_figures_change_are_rewritten(session: Session) -> None:
    teams, cycle = make_org(session)
    rebuild_all(session, threshold=5)
    session.commit()
    before = stored(session)
    b_stamps = computed_at(session, teams["B"])
    a_stamps = computed_at(session, teams["A"])
    answer(session, cycle, teams["A"], random.Random(1))
    session.commit()
    assert aggregate_dirty(session, threshold=5) == 1
    session.commit()
    # A full rebuild over every group then finds nothing left to change.
    rebuild_all(session, threshold=5)
    session.commit()
    after = stored(session)
    assert set(after) == set(before)
    for group in ("A", "D", "Org"):
        row = session.scalars(
            select(ThemeAggregate).where(
                ThemeAggregate.team_id == teams[group].id, ThemeAggregate.theme == "safety"
            )
        ).one()
        assert row.n == {"A": 7, "D": 12, "Org": 12}[group]
        assert row.computed_at > max(a_stamps)
    # B's answers did not change: its rows are untouched.
    assert computed_at(session, teams["B"]) == b_stamps
    assert {k: v for k, v in after.items() if k[1] == teams["B"].id} == {
        k: v for k, v in before.items() if k[1] == teams["B"].id
    }
    assert {k for k, v in after.items() if v != before[k]} >= {
        k for k in after if k[0] == "theme_aggregates" and k[1] == teams["A"].id
    }


@BOTH
def test_rows_whose_answers_vanished_are_deleted(session: Session) -> None:
    teams, cycle = make_org(session)
    rebuild_all(session, threshold=5)
    session.commit()
    a_rows = {k: v for k, v in stored(session).items() if k[1] == teams["A"].id}
    assert a_rows
    session.execute(delete(Response).where(Response.team_id == teams["B"].id))
    session.execute(delete(Invitation).where(Invitation.team_id == teams["B"].id))
    session.commit()
    aggregate_team_cycle(session, team_id=teams["B"].id, cycle_id=cycle.id, threshold=5)
    session.commit()
    after = stored(session)
    assert not [k for k in after if k[1] == teams["B"].id]
    assert session.scalars(
        select(ThemeAggregate.n).where(ThemeAggregate.team_id == teams["D"].id)
    ).all() == [6, 6, 6]
    # A was outside the run's scope and unchanged: kept as it was.
    assert {k: v for k, v in after.items() if k[1] == teams["A"].id} == a_rows
    # A rebuild into empty tables gives exactly these figures.
    kept = figures(after)
    for model in (ThemeAggregate, ItemAggregate, Participation):
        session.execute(delete(model))
    rebuild_all(session, threshold=5)
    session.commit()
    assert figures(stored(session)) == kept


@BOTH
def test_upsert_within_a_part_updates_changed_keeps_same_and_deletes_missing(
    session: Session,
) -> None:
    teams, cycle = make_org(session)
    other = create_cycle(
        session,
        schedule_id=None,
        period_key="p1",
        sequence=1,
        program="full",
        opens_at=START + timedelta(weeks=2),
        closes_at=START + timedelta(weeks=2, days=5),
    )
    a, b, d = teams["A"].id, teams["B"].id, teams["D"].id
    table = Participation.__table__

    def write(rows: list[tuple[int, int, int, int]], when: datetime, within: Any) -> None:
        columns = [list(column) for column in zip(*rows, strict=True)] or [[], [], [], []]
        upsert(
            session,
            table,  # type: ignore[arg-type]
            dict(zip(("team_id", "cycle_id", "invited", "responded"), columns, strict=True)),
            keys=("team_id", "cycle_id"),
            update=("invited", "responded"),
            computed_at=when,
            within=within,
        )
        session.commit()

    def state() -> dict[tuple[int, int], tuple[int, int, datetime]]:
        session.expire_all()
        return {
            (p.team_id, p.cycle_id): (p.invited, p.responded, p.computed_at)
            for p in session.scalars(select(Participation))
        }

    write([(a, cycle.id, 6, 6), (b, cycle.id, 5, 5), (d, cycle.id, 11, 11)], STAMP, None)
    write([(a, other.id, 6, 1)], STAMP, None)
    later = STAMP + timedelta(hours=1)
    # Within the cycle × {A, B}: A unchanged, B changed; D lies outside the part.
    write(
        [(a, cycle.id, 6, 6), (b, cycle.id, 5, 4)],
        later,
        {"cycle_id": {cycle.id}, "team_id": {a, b}},
    )
    assert state() == {
        (a, cycle.id): (6, 6, STAMP),
        (b, cycle.id): (5, 4, later),
        (d, cycle.id): (11, 11, STAMP),
        (a, other.id): (6, 1, STAMP),
    }
    # Within the whole cycle: B and D are no longer given, so they go; the other cycle stays.
    write([(a, cycle.id, 6, 6)], later, {"cycle_id": {cycle.id}})
    assert state() == {(a, cycle.id): (6, 6, STAMP), (a, other.id): (6, 1, STAMP)}
    # Nothing given at all for a part empties it.
    write([], later, {"cycle_id": {other.id}})
    assert state() == {(a, cycle.id): (6, 6, STAMP)}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_runs_for_different_teams_of_one_cycle(
    factory: sessionmaker[Session], session: Session
) -> None:
    teams, cycle = make_org(session)
    rebuild_all(session, threshold=5)
    session.commit()
    for name in ("A", "B"):
        answer(session, cycle, teams[name], random.Random(3))
    session.commit()
    errors: list[BaseException] = []
    first = factory()
    aggregate_team_cycle(first, team_id=teams["A"].id, cycle_id=cycle.id, threshold=5)

    def second_run() -> None:
        try:
            with factory() as second:
                # Waits on the cycle lock until the first run commits, then sees its rows.
                aggregate_team_cycle(second, team_id=teams["B"].id, cycle_id=cycle.id, threshold=5)
                second.commit()
        except BaseException as error:  # reported to the test thread below
            errors.append(error)

    thread = threading.Thread(target=second_run)
    thread.start()
    first.commit()
    first.close()
    thread.join(timeout=120)
    assert not thread.is_alive() and errors == []
    both = figures(stored(session))
    rebuild_all(session, threshold=5)
    session.commit()
    assert figures(stored(session)) == both
    n = session.scalars(
        select(ThemeAggregate.n).where(
            ThemeAggregate.team_id == teams["D"].id, ThemeAggregate.theme == "safety"
        )
    ).one()
    assert n == 13
