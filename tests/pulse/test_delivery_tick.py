"""The scheduler tick: due cycles open once, missed ticks catch up once, DST holds 09:00."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pulse.db import make_engine, make_session_factory
from pulse.delivery.models import Invitation
from pulse.surveys.models import Cycle
from pulse.surveys.scheduler import tick
from tests.support.delivery_org import make_org, make_schedule

MONDAY_0900_LONDON_WINTER = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # GMT = UTC in January


def cycles(session: Session) -> list[Cycle]:
    session.expire_all()
    return list(session.scalars(select(Cycle).order_by(Cycle.opens_at)))


def test_nothing_opens_before_the_first_send_time(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org)
    report = tick(session, now=MONDAY_0900_LONDON_WINTER - timedelta(seconds=1))
    session.commit()
    assert report.opened == 0
    assert cycles(session) == []


def test_due_cycle_opens_with_invitations_for_current_members(session: Session) -> None:
    org = make_org(session, {"Alpha": 3, "Beta": 2})
    make_schedule(session, org)
    report = tick(session, now=MONDAY_0900_LONDON_WINTER + timedelta(seconds=20))
    session.commit()
    (cycle,) = cycles(session)
    assert report.opened_cycle_ids == [cycle.id]
    assert report.sending_cycle_ids == [cycle.id]
    assert cycle.period_key == "2026-01-05T09:00"
    assert cycle.opens_at == MONDAY_0900_LONDON_WINTER
    assert cycle.closes_at == MONDAY_0900_LONDON_WINTER + timedelta(days=5)
    assert len(cycle.items) == 8
    states = session.scalars(
        select(Invitation.delivery_state).where(Invitation.cycle_id == cycle.id)
    )
    assert list(states) == ["pending"] * 5


def test_a_doubled_tick_opens_nothing_twice(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org)
    for _ in range(3):
        tick(session, now=MONDAY_0900_LONDON_WINTER + timedelta(minutes=1))
        session.commit()
    assert len(cycles(session)) == 1
    assert session.scalar(select(func.count()).select_from(Invitation)) == 2


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_concurrent_ticks_open_one_cycle(database_url: str, session: Session) -> None:
    org = make_org(session, {"Alpha": 4})
    make_schedule(session, org)
    engine = make_engine(database_url)
    factory: sessionmaker[Session] = make_session_factory(engine)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with factory() as own:
                barrier.wait()
                tick(own, now=MONDAY_0900_LONDON_WINTER + timedelta(seconds=5))
                own.commit()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert errors == []
    assert len(cycles(session)) == 1
    assert session.scalar(select(func.count()).select_from(Invitation)) == 4


def test_missed_ticks_open_only_the_latest_period_still_in_its_window(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org)
    # Worker down for three weeks; it comes back on Wednesday of the fourth week.
    back = datetime(2026, 1, 28, 15, 0, tzinfo=UTC)
    report = tick(session, now=back)
    session.commit()
    assert report.opened == 1
    assert [c.period_key for c in cycles(session)] == ["2026-01-26T09:00"]
    tick(session, now=back + timedelta(minutes=1))
    session.commit()
    assert len(cycles(session)) == 1


def test_a_period_whose_window_ended_is_never_opened(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org, window_days=2, reminder_hours=[24])
    # Thursday: Monday's two-day window ended on Wednesday 09:00.
    report = tick(session, now=datetime(2026, 1, 8, 12, 0, tzinfo=UTC))
    session.commit()
    assert report.opened == 0
    assert cycles(session) == []


def test_finished_cycles_close_and_are_reported_for_final_aggregation(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org, window_days=2, reminder_hours=[24])
    tick(session, now=MONDAY_0900_LONDON_WINTER)
    session.commit()
    report = tick(session, now=MONDAY_0900_LONDON_WINTER + timedelta(days=2))
    session.commit()
    (cycle,) = cycles(session)
    assert cycle.status == "closed"
    assert report.closed_cycle_ids == [cycle.id]
    assert report.sending_cycle_ids == []  # a closed cycle's invitations are never sent


@pytest.mark.parametrize(
    ("first_monday", "utc_hours"),
    [
        (datetime(2026, 10, 19, tzinfo=UTC), (8, 9)),  # BST → GMT on 25 October
        (datetime(2026, 3, 23, tzinfo=UTC), (9, 8)),  # GMT → BST on 29 March
    ],
)
def test_dst_week_opens_at_nine_local_on_both_sides(
    session: Session, first_monday: datetime, utc_hours: tuple[int, int]
) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org, start_date=first_monday.date(), window_days=3, reminder_hours=[24])
    opened = []
    # Tick every 30 minutes through both Mondays, as beat would (coarser, same logic).
    for week in (0, 1):
        day = first_monday + timedelta(weeks=week)
        for half_hours in range(12, 24):
            now = day + timedelta(minutes=30 * half_hours)
            report = tick(session, now=now)
            session.commit()
            opened += [(now, cid) for cid in report.opened_cycle_ids]
    found = cycles(session)
    assert [c.period_key[-5:] for c in found] == ["09:00", "09:00"]
    assert [c.opens_at.hour for c in found] == list(utc_hours)
    assert [now.hour for now, _ in opened] == list(utc_hours)
    assert all(now.minute == 0 for now, _ in opened)


def test_a_paused_schedule_opens_nothing(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    schedule = make_schedule(session, org)
    schedule.paused = True
    session.commit()
    assert tick(session, now=MONDAY_0900_LONDON_WINTER).opened == 0
