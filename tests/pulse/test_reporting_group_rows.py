"""Reports read the same rows whether their groups are filtered in SQL or after reading.

pulse.reporting.fast.group_rows (and the earlier figures of pulse.reporting.baselines) filter
a few groups in SQL and many (an admin's whole organisation) after reading every group; both
must give every report the same rows, hidden and shown alike, and neither may let in a group
that was not asked about.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from pulse.reporting import fast
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.queries import compare_rows, participation_rows, theme_rows
from pulse.surveys.models import Schedule
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
K = 5


def _reports(session: Session, asked: list[int], team: int) -> list[Any]:
    return [
        theme_rows(session, team_ids=asked, threshold=K),
        participation_rows(session, team_ids=asked, threshold=K),
        compare_rows(session, team_id=team, cycle_id=_cycle_of(session, asked), threshold=K),
    ]


def _cycle_of(session: Session, asked: list[int]) -> int:
    return theme_rows(session, team_ids=asked, threshold=K)[-1].cycle_id


@BOTH
def test_many_groups_read_after_the_query_give_the_same_reports(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Teams at k - 1, k and above in two departments: hidden, complement-hidden and shown rows.
    sizes = {f"T{i}": ("D1" if i < 4 else "D2", size) for i, size in enumerate([4, 5, 6, 9, 5, 7])}
    teams = make_tree(session, sizes)
    rng = random.Random(7)
    schedule = Schedule(name="s", program="full", start_date=date(2026, 1, 5))
    session.add(schedule)
    session.flush()
    for sequence in range(4):
        cycle = make_cycle(session, sequence, schedule=schedule.id)
        for name, (_, size) in sizes.items():
            for _ in range(size):
                answer(
                    session,
                    cycle,
                    teams[name],
                    {ci.item.code: rng.randint(1, 5) for ci in cycle.items},
                )
    session.commit()
    rebuild_all(session, threshold=K)
    session.commit()
    everyone = sorted(team.id for team in teams.values())
    some = sorted(teams[name].id for name in ("Org", "D1", "T0", "T1", "T3"))
    for asked in (everyone, some):
        monkeypatch.setattr(fast, "FEW_GROUPS", len(asked))  # filtered in SQL
        in_sql = _reports(session, asked, teams["T1"].id)
        monkeypatch.setattr(fast, "FEW_GROUPS", 0)  # every group read, filtered after
        after = _reports(session, asked, teams["T1"].id)
        assert after == in_sql
        themes, taking_part, _ = after
        # Rows tested for a change: the earlier cycles they read are checked both ways too.
        assert any(row.baseline_n is not None for row in themes)
        assert {row.team_id for row in themes} == set(asked)
        assert {row.team_id for row in taking_part} == set(asked)
    # The boundary shows in the rows: T0 (k - 1 answered) hidden, T4 (k answered) shown.
    rows = theme_rows(session, team_ids=everyone, threshold=K)
    assert all(row.suppressed and row.mean is None for row in rows if row.team == "T0")
    assert all(not row.suppressed and row.n == K for row in rows if row.team == "T4")
