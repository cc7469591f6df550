"""A small organisation and schedule for the delivery tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage

from sqlalchemy.orm import Session

from pulse.people.models import Person
from pulse.surveys.models import Schedule
from pulse.surveys.schedules import ScheduleSpec, create_schedule
from pulse.teams.models import Membership, Team

LINK = re.compile(r"https?://[^\s\"'<>]+/s/([A-Za-z0-9_-]{43})")


@dataclass
class Org:
    org_id: int
    team_ids: dict[str, int]
    emails: dict[str, list[str]]

    def all_emails(self) -> list[str]:
        return sorted(e for emails in self.emails.values() for e in emails)


def make_org(session: Session, sizes: dict[str, int], joined: date = date(2020, 1, 1)) -> Org:
    org = Team(name="Test Org", kind="organisation")
    session.add(org)
    session.flush()
    team_ids: dict[str, int] = {}
    emails: dict[str, list[str]] = {}
    for name, size in sizes.items():
        team = Team(name=name, kind="team", parent_id=org.id)
        session.add(team)
        session.flush()
        team_ids[name] = team.id
        emails[name] = []
        for n in range(size):
            email = f"{name.lower()}{n}@example.org"
            person = Person(email=email, name=f"{name} Person{n}")
            session.add(person)
            session.flush()
            session.add(Membership(person_id=person.id, team_id=team.id, started_on=joined))
            emails[name].append(email)
    session.commit()
    return Org(org.id, team_ids, emails)


def make_schedule(session: Session, org: Org, **overrides: object) -> Schedule:
    spec = ScheduleSpec(
        name="Weekly pulse",
        cadence="weekly",
        interval=1,
        weekday=0,
        local_hour=9,
        timezone="Europe/London",
        window_days=5,
        reminder_hours=[48, 96],
        start_date=date(2026, 1, 5),
        target_team_ids=[org.org_id],
    )
    for key, value in overrides.items():
        setattr(spec, key, value)
    schedule = create_schedule(session, spec=spec)
    session.commit()
    return schedule


def tokens_in(message: EmailMessage) -> set[str]:
    """Every answer-link token in a message's text and HTML parts."""
    found: set[str] = set()
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found |= set(LINK.findall(part.get_content()))
    return found


def token_for(messages: list[EmailMessage], address: str) -> str:
    """The token of the latest message to `address`."""
    mine = [m for m in messages if m["To"] == address]
    assert mine, f"no message to {address}"
    (token,) = tokens_in(mine[-1])
    return token
