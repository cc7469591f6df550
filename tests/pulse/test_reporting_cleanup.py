"""Deleting a team, cycle or item deletes its aggregates, with no foreign key on them."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Response
from pulse.delivery.models import Invitation
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.surveys.models import Cycle, CycleItem, Item
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_stamps import _invite, _respond

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
TABLES = (ThemeAggregate, ItemAggregate, Participation)


def _built(session: Session) -> tuple[dict[str, Team], list[Cycle]]:
    """Two teams of one department over two cycles, invited, answered and aggregated."""
    teams = make_tree(session, {"A": ("D", 0), "B": ("D", 0)})
    cycles = [make_cycle(session, sequence=s) for s in range(2)]
    for c, cycle in enumerate(cycles):
        for seed, name in enumerate(("A", "B")):
            _invite(session, cycle, teams[name], 6)
            _respond(session, cycle, teams[name], 6, seed=10 * c + seed)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    return teams, cycles


def _count(session: Session, model: type, **where: int) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return int(session.scalar(query) or 0)


@BOTH
def test_deleting_a_cycle_deletes_its_aggregates_only(session: Session) -> None:
    _, (gone, kept) = _built(session)
    before = {model: _count(session, model, cycle_id=kept.id) for model in TABLES}
    assert all(before.values()) and all(_count(session, m, cycle_id=gone.id) for m in TABLES)
    session.execute(delete(Cycle).where(Cycle.id == gone.id))
    session.commit()
    assert [_count(session, model, cycle_id=gone.id) for model in TABLES] == [0, 0, 0]
    assert {model: _count(session, model, cycle_id=kept.id) for model in TABLES} == before


@BOTH
def test_deleting_a_team_deletes_its_aggregates_only(session: Session) -> None:
    teams, _ = _built(session)
    a, b = teams["A"].id, teams["B"].id
    before = {model: _count(session, model, team_id=b) for model in TABLES}
    assert all(before.values()) and all(_count(session, m, team_id=a) for m in TABLES)
    # A team that has answers or invitations cannot be deleted: those go first.
    session.execute(delete(Response).where(Response.team_id == a))
    session.execute(delete(Invitation).where(Invitation.team_id == a))
    session.execute(delete(Team).where(Team.id == a))
    session.commit()
    assert [_count(session, model, team_id=a) for model in TABLES] == [0, 0, 0]
    assert {model: _count(session, model, team_id=b) for model in TABLES} == before


@BOTH
def test_deleting_an_item_deletes_its_aggregates_only(session: Session) -> None:
    _built(session)
    item_id, others = session.execute(
        select(ItemAggregate.item_id, func.count()).group_by(ItemAggregate.item_id).limit(1)
    ).one()
    rows = _count(session, ItemAggregate)
    # An item that has answers or is asked by a cycle cannot be deleted: those go first.
    session.execute(delete(Answer).where(Answer.item_id == item_id))
    session.execute(delete(CycleItem).where(CycleItem.item_id == item_id))
    session.execute(delete(Item).where(Item.id == item_id))
    session.commit()
    assert _count(session, ItemAggregate, item_id=item_id) == 0
    assert _count(session, ItemAggregate) == rows - others


@BOTH
def test_a_rebuild_after_deletes_finds_nothing_to_remove(session: Session) -> None:
    """The trigger leaves exactly what a rebuild over what remains would keep."""
    _, (gone, _) = _built(session)
    session.execute(delete(Cycle).where(Cycle.id == gone.id))
    session.commit()
    left = {
        model: sorted(map(tuple, session.execute(select(model.team_id, model.cycle_id)).all()))
        for model in TABLES
    }
    rebuild_all(session, threshold=5)
    session.commit()
    assert {
        model: sorted(map(tuple, session.execute(select(model.team_id, model.cycle_id)).all()))
        for model in TABLES
    } == left
