"""Who a share reaches and which links open it: the cycle's own tree, live shares only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.trees import snapshot_tree
from pulse.sharing.service import (
    ShareRefused,
    active_share,
    recipient_ids,
    share_for_token,
    share_report,
)
from pulse.sharing.tokens import share_token, token_hash
from tests.pulse.test_reporting_aggregation import make_cycle
from tests.support.answers import invite
from tests.webapp.report_world import K, build_world

SECRET = "test-secret-key-that-is-long-enough-123"


def _invited(session: Session, cycle_id: int, *team_ids: int) -> list[int]:
    query = select(Invitation.person_id).where(
        Invitation.cycle_id == cycle_id, Invitation.team_id.in_(team_ids)
    )
    return sorted(session.scalars(query))


def test_a_department_share_reaches_its_teams_on_the_cycles_own_tree(session: Session) -> None:
    world = build_world(session, target_size=K)
    teams = world.teams
    snapshot_tree(session, cycle_id=world.cycle.id)  # as opening the cycle's invitations does
    # Target moves to D2 after the cycle opened: the cycle still reports it under D1.
    teams["Target"].parent_id = teams["D2"].id
    someone = session.get(Person, _invited(session, world.cycle.id, teams["Big"].id)[0])
    assert someone is not None
    someone.active = False
    session.commit()
    d1 = recipient_ids(session, team_id=teams["D1"].id, cycle_id=world.cycle.id, threshold=K)
    expected = _invited(session, world.cycle.id, teams["Target"].id, teams["Big"].id)
    assert d1 == [p for p in expected if p != someone.id]
    d2 = recipient_ids(session, team_id=teams["D2"].id, cycle_id=world.cycle.id, threshold=K)
    assert d2 == _invited(session, world.cycle.id, teams["Other"].id)


def test_only_closed_cycles_with_invitations_can_be_shared(
    session: Session, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    open_cycle = make_cycle(session, sequence=1, closed=False)
    invite(session, cycle_id=open_cycle.id, team_id=world.target.id, count=3)
    empty = make_cycle(session, sequence=2)
    session.commit()
    for cycle_id in (open_cycle.id, empty.id):
        with pytest.raises(ShareRefused):
            share_report(
                session,
                team_id=world.target.id,
                cycle_id=cycle_id,
                actor=leader,
                secret=SECRET,
                threshold=K,
            )
    assert active_share(session, team_id=world.target.id, cycle_id=open_cycle.id) is None


def test_a_link_opens_only_its_live_share(
    session: Session, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    share, created = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=SECRET,
        threshold=K,
    )
    again, created_again = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=SECRET,
        threshold=K,
    )
    assert created and not created_again and again.id == share.id
    token = share_token(SECRET, share.token_salt)
    assert share.token_hash == token_hash(token) and token not in share.token_salt
    assert share_for_token(session, token=token) is share
    assert share_for_token(session, token=share.token_hash) is None  # the stored hash opens nothing
    assert share_for_token(session, token="not a token") is None
    later = utcnow() + timedelta(days=91)
    assert share_for_token(session, token=token, now=later) is None  # expired after 90 days
