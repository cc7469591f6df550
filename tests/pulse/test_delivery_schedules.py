"""Schedules: validation and opening times in the schedule's own zone, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pulse.surveys.schedules import ScheduleSpec, next_send_times


def spec(**overrides: object) -> ScheduleSpec:
    base = ScheduleSpec(
        name="Pulse",
        cadence="weekly",
        weekday=0,
        local_hour=9,
        timezone="Europe/London",
        window_days=5,
        start_date=date(2026, 1, 5),
        target_team_ids=[1],
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def test_weekly_nine_oclock_stays_nine_oclock_local_across_the_october_change() -> None:
    times = next_send_times(spec(), datetime(2026, 10, 12, tzinfo=UTC), count=3)
    assert [t.strftime("%Y-%m-%d %H:%M") for t in times] == [
        "2026-10-12 09:00",
        "2026-10-19 09:00",
        "2026-10-26 09:00",
    ]
    utc = [t.astimezone(UTC).hour for t in times]
    assert utc == [8, 8, 9]  # BST, BST, then GMT after 25 October


def test_weekly_nine_oclock_across_the_march_change() -> None:
    times = next_send_times(spec(), datetime(2026, 3, 20, tzinfo=UTC), count=2)
    assert [(t.day, t.hour, t.astimezone(UTC).hour) for t in times] == [(23, 9, 9), (30, 9, 8)]


def test_every_two_weeks_counts_from_the_start_date() -> None:
    times = next_send_times(
        spec(cadence="every_n_weeks", interval=2), datetime(2026, 1, 6, tzinfo=UTC), count=3
    )
    assert [t.date() for t in times] == [date(2026, 1, 19), date(2026, 2, 2), date(2026, 2, 16)]


def test_monthly_on_the_last_friday() -> None:
    times = next_send_times(
        spec(
            cadence="monthly_nth_weekday",
            interval=1,
            weekday=4,
            nth=-1,
            timezone="America/New_York",
        ),
        datetime(2026, 1, 1, tzinfo=UTC),
        count=3,
    )
    assert [t.date() for t in times] == [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27)]
    assert all(t.hour == 9 for t in times)


def test_end_date_stops_the_series() -> None:
    times = next_send_times(
        spec(end_date=date(2026, 1, 20)), datetime(2026, 1, 1, tzinfo=UTC), count=5
    )
    assert [t.date() for t in times] == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"name": " "}, "needs a name"),
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"reminder_hours": [24, 48, 72]}, "at most 2"),
        ({"reminder_hours": [200]}, "window's end"),
        ({"window_days": 0}, "window"),
        ({"cadence": "monthly_nth_weekday", "nth": None}, "which weekday"),
        ({"target_team_ids": []}, "at least one team"),
        ({"end_date": date(2025, 1, 1)}, "before the start"),
        ({"local_hour": 24}, "hour"),
    ],
)
def test_invalid_schedules_are_refused_with_a_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        spec(**overrides).validate()
