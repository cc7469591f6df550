"""Schedules: validation, recurrence in the schedule's own time zone, and their admin service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import MONTHLY, WEEKLY, rrule, weekday
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.instrument import PROGRAMS
from pulse.surveys.models import Schedule, ScheduleTarget
from pulse.teams.models import Team

CADENCES = ("weekly", "every_n_weeks", "monthly_nth_weekday")
CADENCE_LABELS = {
    "weekly": "Every week",
    "every_n_weeks": "Every N weeks",
    "monthly_nth_weekday": "Monthly, on the Nth weekday",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NTH_LABELS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
MAX_REMINDERS = 2
PERIOD_KEY_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass
class ScheduleSpec:
    """What an admin asks for; validated before it touches a Schedule row."""

    name: str
    program: str = "rotating"
    cadence: str = "every_n_weeks"
    interval: int = 2
    weekday: int = 0
    nth: int | None = None
    local_hour: int = 9
    timezone: str = "UTC"
    window_days: int = 5
    reminder_hours: list[int] = field(default_factory=list)
    start_date: date = field(default_factory=date.today)
    end_date: date | None = None
    target_team_ids: list[int] = field(default_factory=list)

    def validate(self) -> None:
        """Raise ValueError with a readable reason for anything a schedule cannot be."""
        if not self.name.strip():
            raise ValueError("a schedule needs a name")
        if len(self.name) > 120:
            raise ValueError("a schedule name has at most 120 characters")
        if self.program not in PROGRAMS:
            raise ValueError(f"program must be one of {', '.join(PROGRAMS)}")
        if self.cadence not in CADENCES:
            raise ValueError(f"cadence must be one of {', '.join(CADENCES)}")
        if not 1 <= self.interval <= 12:
            raise ValueError("the interval must be between 1 and 12")
        if not 0 <= self.weekday <= 6:
            raise ValueError("the weekday must be between 0 (Monday) and 6 (Sunday)")
        if self.cadence == "monthly_nth_weekday" and self.nth not in NTH_LABELS:
            raise ValueError("a monthly schedule needs which weekday of the month: 1–4 or last")
        if not 0 <= self.local_hour <= 23:
            raise ValueError("the hour must be between 0 and 23")
        zone(self.timezone)
        if not 1 <= self.window_days <= 28:
            raise ValueError("the answer window must be between 1 and 28 days")
        if len(self.reminder_hours) > MAX_REMINDERS:
            raise ValueError(f"at most {MAX_REMINDERS} reminders")
        window_hours = self.window_days * 24
        for hours in self.reminder_hours:
            if not 1 <= hours < window_hours:
                raise ValueError(
                    f"a reminder must come between 1 hour and the window's end "
                    f"({window_hours} hours), got {hours}"
                )
        if len(set(self.reminder_hours)) != len(self.reminder_hours):
            raise ValueError("the two reminders must be at different times")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("the end date comes before the start date")
        if not self.target_team_ids:
            raise ValueError("choose at least one team to survey")

    def apply(self, schedule: Schedule) -> None:
        schedule.name = self.name.strip()
        schedule.program = self.program
        schedule.cadence = self.cadence
        schedule.interval = 1 if self.cadence == "weekly" else self.interval
        schedule.weekday = self.weekday
        schedule.nth = self.nth if self.cadence == "monthly_nth_weekday" else None
        schedule.local_hour = self.local_hour
        schedule.timezone = self.timezone
        schedule.window_days = self.window_days
        schedule.reminder_hours = sorted(self.reminder_hours)
        schedule.start_date = self.start_date
        schedule.end_date = self.end_date


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known IANA time zone (e.g. Europe/London)") from None


def recurrence(schedule: Schedule | ScheduleSpec) -> rrule:
    """The schedule's opening times as naive local wall-clock datetimes.

    The rule runs on wall-clock time so 09:00 stays 09:00 across daylight-saving changes; each
    occurrence is given its zone only afterwards (see `localise`).
    """
    start = datetime.combine(schedule.start_date, time(hour=schedule.local_hour))
    until = datetime.combine(schedule.end_date, time(23, 59, 59)) if schedule.end_date else None
    if schedule.cadence == "monthly_nth_weekday":
        return rrule(
            MONTHLY,
            interval=max(schedule.interval, 1),
            byweekday=weekday(schedule.weekday, schedule.nth or 1),
            dtstart=start,
            until=until,
        )
    interval = 1 if schedule.cadence == "weekly" else schedule.interval
    return rrule(WEEKLY, interval=interval, byweekday=schedule.weekday, dtstart=start, until=until)


def localise(local: datetime, tz: ZoneInfo) -> datetime:
    """Attach the zone to a wall-clock time; a time skipped by a spring-forward gap moves later."""
    aware = local.replace(tzinfo=tz)
    # zoneinfo maps a non-existent wall time with the pre-transition offset; round-tripping
    # through UTC shows whether it existed.
    roundtrip = aware.astimezone(ZoneInfo("UTC")).astimezone(tz)
    return roundtrip if roundtrip.replace(tzinfo=None) != local else aware


def period_key(local: datetime) -> str:
    """The unique key of a period: its local opening time, to the minute."""
    return local.strftime(PERIOD_KEY_FORMAT)


def next_send_times(
    schedule: Schedule | ScheduleSpec, after: datetime, count: int = 5
) -> list[datetime]:
    """The next `count` opening times strictly after `after`, aware in the schedule's zone."""
    tz = zone(schedule.timezone)
    rule = recurrence(schedule)
    cursor = after.astimezone(tz).replace(tzinfo=None)
    times: list[datetime] = []
    while len(times) < count:
        following = rule.after(cursor, inc=False)
        if following is None:
            break
        times.append(localise(following, tz))
        cursor = following
    return times


def latest_opening(schedule: Schedule, now: datetime) -> tuple[datetime, datetime] | None:
    """The most recent opening at or before `now`, as (local wall-clock, aware)."""
    tz = zone(schedule.timezone)
    local_now = now.astimezone(tz).replace(tzinfo=None)
    occurrence = recurrence(schedule).before(local_now, inc=True)
    if occurrence is None:
        return None
    return occurrence, localise(occurrence, tz)


def closing_time(local_opening: datetime, window_days: int, tz: ZoneInfo) -> datetime:
    """When a cycle opened at `local_opening` closes: the same wall-clock time N days later."""
    return localise(local_opening + timedelta(days=window_days), tz)


def describe(schedule: Schedule) -> str:
    """A one-line human description of the cadence."""
    hour = f"{schedule.local_hour:02d}:00 {schedule.timezone}"
    day = WEEKDAYS[schedule.weekday]
    if schedule.cadence == "weekly":
        return f"Every {day} at {hour}"
    if schedule.cadence == "every_n_weeks":
        return f"Every {schedule.interval} weeks on {day} at {hour}"
    nth = NTH_LABELS.get(schedule.nth or 1, "first")
    every = "month" if schedule.interval == 1 else f"{schedule.interval} months"
    return f"The {nth} {day} of every {every} at {hour}"


def _check_teams(session: Session, team_ids: list[int]) -> None:
    found = set(session.scalars(select(Team.id).where(Team.id.in_(team_ids))))
    missing = sorted(set(team_ids) - found)
    if missing:
        raise ValueError(f"unknown team ids: {', '.join(map(str, missing))}")


def create_schedule(session: Session, *, spec: ScheduleSpec) -> Schedule:
    """Validate and add a schedule with its target teams."""
    spec.validate()
    _check_teams(session, spec.target_team_ids)
    schedule = Schedule(start_date=spec.start_date)
    spec.apply(schedule)
    schedule.targets = [ScheduleTarget(team_id=t) for t in sorted(set(spec.target_team_ids))]
    session.add(schedule)
    session.flush()
    return schedule


def update_schedule(session: Session, *, schedule: Schedule, spec: ScheduleSpec) -> Schedule:
    """Validate and apply an edit; cycles already opened keep their own times."""
    spec.validate()
    _check_teams(session, spec.target_team_ids)
    spec.apply(schedule)
    wanted = set(spec.target_team_ids)
    schedule.targets = [t for t in schedule.targets if t.team_id in wanted] + [
        ScheduleTarget(team_id=t) for t in sorted(wanted - {t.team_id for t in schedule.targets})
    ]
    session.flush()
    return schedule


def set_paused(session: Session, *, schedule: Schedule, paused: bool) -> Schedule:
    """Pause or resume: a paused schedule opens no new cycles (open ones run to their end)."""
    schedule.paused = paused
    session.flush()
    return schedule


def delete_schedule(session: Session, *, schedule: Schedule) -> None:
    """Delete a schedule; its past cycles stay (they are history) with no schedule."""
    session.delete(schedule)
    session.flush()


def spec_of(schedule: Schedule) -> ScheduleSpec:
    """The editable description of an existing schedule."""
    return ScheduleSpec(
        name=schedule.name,
        program=schedule.program,
        cadence=schedule.cadence,
        interval=schedule.interval,
        weekday=schedule.weekday,
        nth=schedule.nth,
        local_hour=schedule.local_hour,
        timezone=schedule.timezone,
        window_days=schedule.window_days,
        reminder_hours=[int(h) for h in schedule.reminder_hours or []],
        start_date=schedule.start_date,
        end_date=schedule.end_date,
        target_team_ids=[t.team_id for t in schedule.targets],
    )
