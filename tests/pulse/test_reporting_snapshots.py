"""Each cycle is reported on the team tree it opened with, whatever happens to the tree later."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.delivery.invitations import create_invitations
from pulse.people.models import Person
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.queries import (
    compare_rows,
    item_rows,
    participation_rows,
    theme_rows,
)
from pulse.reporting.trees import CycleTrees, TeamTree, snapshot_tree
from pulse.surveys.models import Cycle, CycleTeam
from pulse.teams.models import Membership, Team
from pulse.teams.tree import create_team, move_team, rename_team
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.support.answers import invite

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _organisation(session: Session) -> dict[str, Team]:
    """Operations with two teams that can stand alone; Finance with Quality (6) and Ledger
    (3), so Ledger is hidden and Quality hidden with it as its complement."""
    return make_tree(
        session,
        {"Ops1": ("Operations", 0), "Ops2": ("Operations", 0), "Quality": ("Finance", 0)}
        | {"Ledger": ("Finance", 0)},
    )


def _published(session: Session, teams: dict[str, Team], cycle: Cycle) -> dict[str, Any]:
    ids = {t.id for t in teams.values()}
    return {
        "themes": [
            (r.team_id, r.theme, r.n, r.mean, r.ci_low, r.ci_high, r.favourable_pct, r.state)
            for r in theme_rows(session, team_ids=ids, threshold=5, cycle_ids=[cycle.id])
        ],
        "items": [
            (r.team_id, r.item_code, r.n, r.distribution, r.state)
            for r in item_rows(session, team_ids=ids, threshold=5, cycle_id=cycle.id)
        ],
        "participation": [
            (r.team_id, r.invited, r.responded, r.rate, r.state)
            for r in participation_rows(session, team_ids=ids, threshold=5, cycle_ids=[cycle.id])
        ],
        "compare": {
            name: [
                (r.team, r.theme, r.n, r.mean, r.state)
                for r in compare_rows(session, team_id=t.id, cycle_id=cycle.id, threshold=5)
            ]
            for name, t in teams.items()
        },
    }


def _answered(session: Session, teams: dict[str, Team], cycle: Cycle, ledger: int = 3) -> None:
    for name, count in (("Ops1", 8), ("Ops2", 9), ("Quality", 6), ("Ledger", ledger)):
        _answer_all(session, cycle, teams[name], count)


@BOTH
def test_a_moved_team_changes_nothing_of_a_past_cycle(session: Session) -> None:
    """Attack 2: after Quality moves under Operations, Operations minus its visible teams
    must not give Ledger's hidden figures; every figure of the past cycle stays as it was."""
    teams = _organisation(session)
    cycle = make_cycle(session)
    snapshot_tree(session, cycle_id=cycle.id)
    _answered(session, teams, cycle)
    invite(session, cycle_id=cycle.id, team_id=teams["Ledger"].id, count=2)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    before = _published(session, teams, cycle)
    themes = {(t, th): (n, state) for t, th, n, *_, state in before["themes"]}
    assert themes[(teams["Ledger"].id, "safety")] == (None, "few")
    assert themes[(teams["Quality"].id, "safety")] == (None, "complement")
    assert themes[(teams["Operations"].id, "safety")][0] == 17

    move_team(session, team_id=teams["Quality"].id, parent_id=teams["Operations"].id)
    rename_team(session, team_id=teams["Ops1"].id, name="Operations One")
    session.commit()
    # Read on the read (stamps stand), then after a full rebuild on the new tree: the same.
    assert _published(session, teams, cycle) == before
    rebuild_all(session, threshold=5)
    session.commit()
    after = _published(session, teams, cycle)
    assert after == before
    operations = {(t, th): n for t, th, n, *_ in after["themes"]}
    # Operations still counts its own 17 people of that cycle, not Quality's 6 on top.
    assert operations[(teams["Operations"].id, "safety")] == 17
    assert operations[(teams["Quality"].id, "safety")] is None


@BOTH
def test_a_cycle_opened_after_a_move_uses_the_new_tree(session: Session) -> None:
    teams = _organisation(session)
    first = make_cycle(session, sequence=0)
    snapshot_tree(session, cycle_id=first.id)
    move_team(session, team_id=teams["Quality"].id, parent_id=teams["Operations"].id)
    second = make_cycle(session, sequence=1)
    snapshot_tree(session, cycle_id=second.id)
    for cycle in (first, second):
        _answered(session, teams, cycle, ledger=5)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    ids = {t.id for t in teams.values()}
    rows = {
        (r.cycle_id, r.team_id): r.n
        for r in theme_rows(session, team_ids=ids, threshold=5, cycle_ids=[first.id, second.id])
        if r.theme == "safety"
    }
    assert rows[(first.id, teams["Operations"].id)] == 17
    assert rows[(first.id, teams["Finance"].id)] == 11
    # From the second cycle on, Quality counts towards Operations and no longer Finance.
    assert rows[(second.id, teams["Operations"].id)] == 23
    assert rows[(second.id, teams["Finance"].id)] == 5
    assert rows[(second.id, teams["Org"].id)] == 28


@BOTH
def test_inviting_takes_the_snapshot_and_later_teams_join_it(session: Session) -> None:
    teams = make_tree(session, {"A": ("D", 0)})
    person = Person(email="a@example.org", name="A")
    session.add(person)
    session.flush()
    session.add(Membership(person_id=person.id, team_id=teams["A"].id, started_on=date(2025, 1, 1)))
    cycle = make_cycle(session, closed=False)
    create_invitations(session, cycle=cycle, target_team_ids={teams["Org"].id}, on=date(2026, 1, 5))
    snapshot = dict(
        session.execute(
            select(CycleTeam.team_id, CycleTeam.parent_id).where(CycleTeam.cycle_id == cycle.id)
        ).all()
    )
    assert snapshot == {t.id: t.parent_id for t in teams.values()}
    # A move after opening leaves the snapshot alone; a team created meanwhile joins it.
    other = create_team(session, name="E", parent_id=teams["Org"].id, kind="department")
    move_team(session, team_id=teams["A"].id, parent_id=other.id)
    create_invitations(session, cycle=cycle, target_team_ids={teams["Org"].id}, on=date(2026, 1, 6))
    trees = CycleTrees.load(session, [cycle.id])
    assert trees.of(cycle.id).parents[teams["A"].id] == teams["D"].id
    assert trees.of(cycle.id).parents[other.id] == teams["Org"].id
    assert trees.current.parents[teams["A"].id] == other.id


def test_cycles_with_equal_snapshots_share_one_tree() -> None:
    trees = CycleTrees.of_snapshots(
        TeamTree({1: None, 2: 1, 3: 1}), {10: {3: 2}, 11: {3: 2}, 12: {}}
    )
    assert trees.of(10) is trees.of(11) and trees.of(12) is not trees.of(10)
    assert trees.of(10).chain(3) == [3, 2, 1] and trees.of(12).chain(3) == [3, 1]
    parts = trees.partition([12, 10, 11], {10: 5, 11: 7, 12: 5})
    assert [(k, cycles) for _, k, cycles in parts] == [(5, [10]), (7, [11]), (5, [12])]
    rows, groups = trees.expand(np.array([3, 3, 2]), np.array([10, 12, 12]))
    pairs = sorted(zip(rows.tolist(), groups.tolist(), strict=True))
    assert pairs == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 3), (2, 1), (2, 2)]
