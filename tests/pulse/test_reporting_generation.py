"""Stamps trusted by tree generation: no snapshot read while nothing changed, never a stale one.

The tree generation (pulse.reporting.fast) is counted by database triggers; a report trusts a
stamp without reading the cycle's snapshot only while the counter still reads the stamp's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.fast import tree_generation
from pulse.reporting.models import SuppressionStamp
from pulse.reporting.queries import ReportContext, compare_rows, participation_rows, theme_rows
from pulse.reporting.stamps import restamp_stale
from pulse.reporting.trees import snapshot_tree
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_stamps import _decided_on_read, _everything, _org

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """Every SQL statement run on the session's engine meanwhile."""
    engine = session.get_bind()
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _leader_reads(session: Session, teams: dict[str, Team], cycles: list[int]) -> dict[str, Any]:
    """What a leader of D0 reads: their groups' themes and participation, and a comparison,
    all through one report context as a dashboard callback does."""
    scope = {teams["D0"].id} | {t.id for t in teams.values() if t.parent_id == teams["D0"].id}
    context = ReportContext.load(session, threshold=5)
    # The comparison first: it asks for the cycle's tree before anything checks a stamp.
    compare = compare_rows(
        session, team_id=teams["T0"].id, cycle_id=cycles[-1], threshold=5, context=context
    )
    return {
        "compare": compare,
        "themes": theme_rows(session, team_ids=scope, threshold=5, context=context),
        "participation": participation_rows(session, team_ids=scope, threshold=5, context=context),
    }


def _snapshot_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if "cycle_teams" in s]


def _stamped_org(session: Session) -> tuple[dict[str, Team], list[int]]:
    teams, cycles = _org(session, seed=2)
    ids = [c.id for c in cycles]
    for cycle_id in ids:
        snapshot_tree(session, cycle_id=cycle_id)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    return teams, ids


@BOTH
def test_with_nothing_changed_a_leader_reads_no_snapshot(session: Session) -> None:
    teams, cycles = _stamped_org(session)
    generation = tree_generation(session)
    stamps = session.scalars(select(SuppressionStamp)).all()
    assert generation is not None and len(stamps) == 2
    assert all(s.tree_generation == generation and s.snapshot_current for s in stamps)
    with statements(session) as seen:
        fast = _leader_reads(session, teams, cycles)
    assert seen and _snapshot_reads(seen) == []
    # The same figures as a report that ignores every stamp and decides on the read.
    nested = session.begin_nested()
    session.execute(SuppressionStamp.__table__.delete())
    assert _leader_reads(session, teams, cycles) == fast
    nested.rollback()


def _move(session: Session, teams: dict[str, Team], _: list[int]) -> None:
    teams["T0"].parent_id = teams["D1"].id


def _new_team(session: Session, teams: dict[str, Team], _: list[int]) -> None:
    session.add(Team(name="T9", parent_id=teams["D0"].id))


def _new_snapshot_row(session: Session, teams: dict[str, Team], cycles: list[int]) -> None:
    # A team created while the last cycle is open joins its snapshot with its first invitation.
    _new_team(session, teams, cycles)
    session.flush()
    snapshot_tree(session, cycle_id=cycles[-1])


def _rename(session: Session, teams: dict[str, Team], _: list[int]) -> None:
    teams["T2"].name = "T2 renamed"


CHANGES: dict[str, Callable[[Session, dict[str, Team], list[int]], None]] = {
    "move": _move,
    "new team": _new_team,
    "new snapshot row": _new_snapshot_row,
    "rename": _rename,
}


@BOTH
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_after_a_tree_change_the_stamp_is_checked_by_its_tree(
    session: Session, change: str
) -> None:
    teams, cycles = _stamped_org(session)
    before = tree_generation(session)
    CHANGES[change](session, teams, cycles)
    session.commit()
    after = tree_generation(session)
    assert before is not None and after is not None and after > before
    with statements(session) as seen:
        reads = _leader_reads(session, teams, cycles)
    # Not trusted by generation: the snapshot is read and the stamp checked by its key.
    assert _snapshot_reads(seen)
    assert reads == _leader_reads_decided(session, teams, cycles)
    assert _everything(session, teams=teams, k=5) == _decided_on_read(session, teams=teams, k=5)
    # A rebuild on the changed tree gives the very figures read before it.
    rebuild_all(session, threshold=5)
    session.commit()
    assert _leader_reads(session, teams, cycles) == reads


def _leader_reads_decided(
    session: Session, teams: dict[str, Team], cycles: list[int]
) -> dict[str, Any]:
    nested = session.begin_nested()
    session.execute(SuppressionStamp.__table__.delete())
    reads = _leader_reads(session, teams, cycles)
    nested.rollback()
    return reads


@BOTH
def test_a_new_team_voids_every_stamp_until_restamped(session: Session) -> None:
    teams, cycles = _stamped_org(session)
    _new_team(session, teams, cycles)
    session.commit()
    context = ReportContext.load(session, threshold=5)
    assert context.stamped(session, cycles) == set()
    assert restamp_stale(session, threshold=5) == cycles
    session.commit()
    assert ReportContext.load(session, threshold=5).stamped(session, cycles) == set(cycles)


@BOTH
def test_the_sweep_renews_the_generation_of_stamps_that_still_hold(session: Session) -> None:
    teams, cycles = _stamped_org(session)
    _rename(session, teams, cycles)
    session.commit()
    # The snapshot keeps the old name: the stamp's tree holds, so nothing is restamped,
    # but the stamp is trusted by generation again, its snapshot no longer the teams now.
    assert restamp_stale(session, threshold=5) == []
    session.commit()
    stamps = session.scalars(select(SuppressionStamp)).all()
    assert {s.tree_generation for s in stamps} == {tree_generation(session)}
    assert not any(s.snapshot_current for s in stamps)
    with statements(session) as seen:
        reads = _leader_reads(session, teams, cycles)
    assert reads == _leader_reads_decided(session, teams, cycles)
    # A snapshot that differs from the teams now is read for its names and tree.
    assert _snapshot_reads(seen)
    names = {r.team for r in reads["themes"]}
    assert "T2" in names and "T2 renamed" not in names


@BOTH
def test_triggers_count_every_write_that_can_change_a_tree(session: Session) -> None:
    teams = make_tree(session, {"A": ("D1", 0)})
    cycle = make_cycle(session)
    session.commit()
    seen = [tree_generation(session)]

    def step() -> None:
        session.commit()
        seen.append(tree_generation(session))

    snapshot_tree(session, cycle_id=cycle.id)
    step()
    teams["A"].parent_id = teams["Org"].id
    step()
    teams["A"].name = "A2"
    step()
    session.add(Team(name="B", parent_id=teams["D1"].id))
    step()
    session.delete(teams["A"])
    step()
    assert all(a is not None and b is not None and b > a for a, b in pairwise(seen))
    # Archiving moves and renames nothing: the counter stays.
    teams["D1"].archived_at = datetime.now(UTC)
    session.commit()
    assert tree_generation(session) == seen[-1]
