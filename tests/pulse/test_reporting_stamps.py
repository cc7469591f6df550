"""Suppression decided at aggregation time: stamped reads equal reads decided on the spot."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pulse.answers.models import Response
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.aggregation import aggregate_dirty, rebuild_all
from pulse.reporting.dirty import mark_dirty
from pulse.reporting.models import Participation, SuppressionStamp
from pulse.reporting.queries import (
    ReportContext,
    anchor_rows,
    compare_rows,
    item_rows,
    participation_rows,
    theme_rows,
)
from pulse.reporting.stamps import forget_stamps, stamp_cycles, unstamped_cycles
from pulse.reporting.trees import CycleTrees
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import answer, make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.pulse.test_reporting_store import stored
from tests.support.answers import invite, set_thresholds

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _respond(session: Session, cycle: Cycle, team: Team, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        answer(session, cycle, team, {ci.item.code: rng.randint(1, 5) for ci in cycle.items})


def _invite(session: Session, cycle: Cycle, team: Team, count: int) -> None:
    for i in range(count):
        person = Person(email=f"{team.name}.{cycle.id}.{i}@example.org".lower(), name=team.name)
        session.add(person)
        session.flush()
        session.add(Invitation(cycle_id=cycle.id, person_id=person.id, team_id=team.id))


def _rebuilt_cycle(
    session: Session, sizes: dict[str, tuple[str, int]]
) -> tuple[dict[str, Team], Cycle]:
    """Teams {name: (department, size)}, each invited and answering in full, rebuilt at k = 5."""
    teams = make_tree(session, {name: (dept, 0) for name, (dept, _) in sizes.items()})
    cycle = make_cycle(session)
    for seed, (name, (_, size)) in enumerate(sizes.items()):
        _respond(session, cycle, teams[name], size, seed)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    return teams, cycle


def _stamped(session: Session, cycle_ids: list[int], *, k: int) -> set[int]:
    """The cycles whose stored flags reports trust at threshold k and the tree as it is."""
    return ReportContext.load(session, threshold=k).stamped(session, cycle_ids)


def _everything(session: Session, *, teams: dict[str, Team], k: int) -> dict[str, Any]:
    """Every report the dashboard and the export give, for every group and cycle."""
    ids = {t.id for t in teams.values()}
    cycles = sorted(session.scalars(select(Cycle.id)))
    return {
        "themes": theme_rows(session, team_ids=ids, threshold=k),
        "participation": participation_rows(session, team_ids=ids, threshold=k),
        "items": item_rows(session, team_ids=ids, threshold=k, cycle_ids=cycles),
        "compare": [
            compare_rows(session, team_id=t.id, cycle_id=c, threshold=k)
            for t in teams.values()
            for c in cycles
        ],
        "anchors": [
            anchor_rows(session, team_id=t.id, threshold=k, cycle_ids=cycles)
            for t in teams.values()
        ],
    }


def _decided_on_read(session: Session, *, teams: dict[str, Team], k: int) -> dict[str, Any]:
    """The same reports with every stamp ignored: decided from the counts on this read."""
    nested = session.begin_nested()
    forget_stamps(session, cycle_ids=None)
    reports = _everything(session, teams=teams, k=k)
    nested.rollback()
    return reports


def _org(session: Session, seed: int) -> tuple[dict[str, Team], list[Cycle]]:
    """Teams of every size around k = 5 in two departments, over two cycles."""
    rng = random.Random(seed)
    names = {f"T{i}": (f"D{i % 2}", 0) for i in range(6)}
    teams = make_tree(session, names)
    cycles = [make_cycle(session, sequence=s, schedule=None) for s in range(2)]
    for c, cycle in enumerate(cycles):
        for i, name in enumerate(names):
            size = rng.choice([0, 1, 3, 4, 5, 6, 9])
            _invite(session, cycle, teams[name], size + rng.choice([0, 1, 2]))
            _respond(session, cycle, teams[name], size, seed=seed * 100 + c * 10 + i)
    session.commit()
    return teams, cycles


@BOTH
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stamped_reports_equal_reports_decided_on_read(session: Session, seed: int) -> None:
    teams, cycles = _org(session, seed)
    rebuild_all(session, threshold=5)
    session.commit()
    assert _stamped(session, [c.id for c in cycles], k=5) == {c.id for c in cycles}
    stamped = _everything(session, teams=teams, k=5)
    assert stamped == _decided_on_read(session, teams=teams, k=5)
    # Something is hidden and something shown, or the comparison proves little.
    flags = [row.suppressed for row in stamped["themes"]]
    assert any(flags) and not all(flags)


@BOTH
def test_boundary_k_minus_one_and_k_from_the_stamp(session: Session) -> None:
    sizes = {"Four": ("D1", 4), "Eight": ("D1", 8), "Nine": ("D1", 9), "Five": ("D2", 5)}
    teams, cycle = _rebuilt_cycle(session, sizes)
    assert session.get(SuppressionStamp, cycle.id) is not None
    ids = {t.id for t in teams.values()}
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    # n = k − 1: hidden, with no figure at all.
    four = rows[("Four", "safety")]
    assert four.suppressed and (four.n, four.mean, four.ci_low) == (None, None, None)
    # D1 (21) minus Nine (9) and Eight (8) would give Four away: Eight is hidden too.
    assert rows[("Eight", "safety")].suppressed
    assert rows[("Nine", "safety")].n == 9 and rows[("D1", "safety")].n == 21
    # n = k: shown, alone in its department.
    assert rows[("Five", "safety")].n == 5 and rows[("D2", "safety")].n == 5
    taking_part = {r.team: r for r in participation_rows(session, team_ids=ids, threshold=5)}
    anchors = {
        name: anchor_rows(session, team_id=teams[name].id, threshold=5, cycle_ids=[cycle.id])
        for name in ("Four", "Five")
    }
    assert len(anchors["Four"]) == 3 and all(a.mean is None for a in anchors["Four"])
    assert len(anchors["Five"]) == 3 and all(a.mean is not None for a in anchors["Five"])
    assert taking_part["Four"].invited is None and taking_part["Eight"].invited is None
    assert taking_part["Five"].invited == 5 and taking_part["D1"].invited == 21
    assert _everything(session, teams=teams, k=5) == _decided_on_read(session, teams=teams, k=5)


@BOTH
def test_a_new_threshold_is_applied_before_anything_restamps(session: Session) -> None:
    teams = make_tree(session, {"Four": ("D1", 0), "Six": ("D1", 0), "Seven": ("D2", 0)})
    cycle = make_cycle(session)
    for seed, (name, size) in enumerate((("Four", 4), ("Six", 6), ("Seven", 7))):
        _respond(session, cycle, teams[name], size, seed)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    ids = {t.id for t in teams.values()}
    trees = CycleTrees.load(session, [cycle.id])
    assert _stamped(session, [cycle.id], k=7) == set()
    assert unstamped_cycles(session, k=7)[0] == [cycle.id]
    # Lowering k does not apply to a cycle that opened at 5: its stamp still holds.
    assert _stamped(session, [cycle.id], k=4) == {cycle.id}
    lower = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=4)}
    assert lower[("Four", "safety")].n is None
    # Raising it applies at once, before anything restamps.
    higher = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=7)}
    assert higher[("Six", "safety")].suppressed and higher[("Seven", "safety")].n == 7
    # Restamping at the new k gives the very reports read before it.
    stamp_cycles(session, cycle_ids=[cycle.id], ks={cycle.id: 7}, trees=trees)
    assert _stamped(session, [cycle.id], k=7) == {cycle.id}
    again = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=7)}
    assert again == higher


@BOTH
def test_moving_a_team_voids_the_stamps_until_restamped(session: Session) -> None:
    teams = make_tree(session, {"A": ("D1", 0), "B": ("D1", 0), "C": ("D2", 0)})
    cycle = make_cycle(session)
    for seed, (name, size) in enumerate((("A", 5), ("B", 7), ("C", 4))):
        _respond(session, cycle, teams[name], size, seed)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    teams["C"].parent_id = teams["D1"].id
    session.commit()
    trees = CycleTrees.load(session, [cycle.id])
    assert _stamped(session, [cycle.id], k=5) == set()
    ids = {t.id for t in teams.values()}
    before = _everything(session, teams=teams, k=5)
    assert before == _decided_on_read(session, teams=teams, k=5)
    stamp_cycles(session, cycle_ids=[cycle.id], ks={cycle.id: 5}, trees=trees)
    assert _everything(session, teams=teams, k=5) == before
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    assert rows[("C", "safety")].suppressed


@BOTH
def test_an_incremental_run_restamps_its_cycle(session: Session) -> None:
    teams = make_tree(session, {"A": ("D1", 0), "B": ("D1", 0), "C": ("D1", 0)})
    cycle = make_cycle(session)
    for seed, (name, size) in enumerate((("A", 4), ("B", 6), ("C", 9))):
        _respond(session, cycle, teams[name], size, seed)
    aggregate_dirty(session, threshold=5)
    session.commit()
    ids = {t.id for t in teams.values()}
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    assert rows[("A", "safety")].suppressed and rows[("B", "safety")].suppressed
    # A fifth answer from A: the next run shows A and, with it, B.
    _respond(session, cycle, teams["A"], 1, seed=99)
    aggregate_dirty(session, threshold=5)
    session.commit()
    stamp = session.get(SuppressionStamp, cycle.id)
    assert stamp is not None and stamp.threshold == 5
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    assert rows[("A", "safety")].n == 5 and rows[("B", "safety")].n == 6
    assert _everything(session, teams=teams, k=5) == _decided_on_read(session, teams=teams, k=5)


def test_one_context_serves_every_query_of_a_report_at_its_own_k(session: Session) -> None:
    teams, cycles = _org(session, seed=4)
    rebuild_all(session, threshold=5)
    session.commit()
    ids = {t.id for t in teams.values()}
    context = ReportContext.load(session, threshold=5)
    shared = {
        "themes": theme_rows(session, team_ids=ids, threshold=5, context=context),
        "participation": participation_rows(session, team_ids=ids, threshold=5, context=context),
        "items": item_rows(
            session, team_ids=ids, threshold=5, cycle_ids=[c.id for c in cycles], context=context
        ),
    }
    assert shared == {
        key: value
        for key, value in _everything(session, teams=teams, k=5).items()
        if key not in {"compare", "anchors"}
    }
    with pytest.raises(ValueError, match="k = 5"):
        theme_rows(session, team_ids=ids, threshold=4, context=context)


@BOTH
def test_a_run_over_every_team_of_a_cycle_writes_the_flags_it_decided(session: Session) -> None:
    """Every team dirty: the cycle is written whole, flags and all, as a rebuild would."""
    sizes = {"A": ("D1", 6), "B": ("D1", 5), "C": ("D2", 9), "E": ("D3", 7)}
    teams, cycle = _rebuilt_cycle(session, sizes)
    before = stored(session)
    ids = {t.id for t in teams.values()}
    shown = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    assert shown[("B", "safety")].n == 5
    # A drops to 4 (hidden, and B with it: D1 minus B would give A away); E's answers and
    # invitations vanish with no run marked for it.
    for response in session.scalars(
        select(Response).where(Response.team_id == teams["A"].id).limit(2)
    ):
        session.delete(response)
    for invitation in session.scalars(
        select(Invitation).where(Invitation.team_id == teams["A"].id).limit(2)
    ):
        invitation.answered = False
    session.execute(delete(Response).where(Response.team_id == teams["E"].id))
    session.execute(delete(Invitation).where(Invitation.team_id == teams["E"].id))
    for name in ("A", "B", "C"):
        mark_dirty(session, team_id=teams[name].id, cycle_id=cycle.id)
    session.commit()
    assert aggregate_dirty(session, threshold=5) == 3
    session.commit()
    assert _stamped(session, [cycle.id], k=5) == {cycle.id}
    assert _everything(session, teams=teams, k=5) == _decided_on_read(session, teams=teams, k=5)
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=5)}
    assert rows[("A", "safety")].suppressed and rows[("B", "safety")].suppressed
    after = stored(session)
    # B's figures are as they were: its flag changed, its rows' computed_at did not.
    for key, row in after.items():
        if key[1] == teams["B"].id and key[0] != "participation":
            assert row["suppressed"] and not before[key]["suppressed"]
            assert row["computed_at"] == before[key]["computed_at"], {
                c: (v, before[key][c]) for c, v in row.items() if v != before[key][c]
            }
    # E and D3 have nothing behind them any more: gone, as a rebuild would have them.
    assert not [key for key in after if key[1] in {teams["E"].id, teams["D3"].id}]
    rebuild_all(session, threshold=5)
    session.commit()
    assert stored(session) == after


@BOTH
def test_invited_hiding_is_stamped_and_a_raised_participation_threshold_voids_it(
    session: Session,
) -> None:
    """The numbers invited are hidden at the participation threshold (6 here): Five invited
    (k − 1) hidden, Six (k) shown. The run stores that decision with the stamp, so a report
    reads only its own groups' flags; raising the threshold voids it until restamped, and a
    report decides on the read meanwhile, exactly as the new stamp then does."""
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
    context = ReportContext.load(session, threshold=3)
    assert context.invited_decided(session, [cycle.id]) == {cycle.id}
    stored = {
        team: flag
        for team, flag in session.execute(
            select(Participation.team_id, Participation.invited_hidden).where(
                Participation.cycle_id == cycle.id
            )
        )
    }
    assert stored[teams["Five"].id] and not stored[teams["Six"].id]
    rows = {r.team: r for r in participation_rows(session, team_ids=ids, threshold=3)}
    assert rows["Five"].invited is None and rows["Six"].invited == 6
    # D1 is Five alone: hidden with it, and D3 too, or the organisation minus D2 gives D1.
    assert rows["D1"].invited is None and rows["D3"].invited is None
    assert _everything(session, teams=teams, k=3) == _decided_on_read(session, teams=teams, k=3)

    set_thresholds(session, participation=7)
    session.commit()
    fresh = ReportContext.load(session, threshold=3)
    assert fresh.stamped(session, [cycle.id]) == {cycle.id}
    assert fresh.invited_decided(session, [cycle.id]) == set()
    raised = {r.team: r for r in participation_rows(session, team_ids=ids, threshold=3)}
    assert raised["Six"].invited is None and raised["Seven"].invited == 7
    stamp_cycles(
        session,
        cycle_ids=[cycle.id],
        ks={cycle.id: 3},
        trees=CycleTrees.load(session, [cycle.id]),
    )
    session.commit()
    again = ReportContext.load(session, threshold=3)
    assert again.invited_decided(session, [cycle.id]) == {cycle.id}
    assert {r.team: r for r in participation_rows(session, team_ids=ids, threshold=3)} == raised
