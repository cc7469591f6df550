"""A demo organisation with a year of fortnightly pulses and a cycle open now."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Comment, Response
from pulse.db import utcnow
from pulse.delivery.invitations import create_invitations
from pulse.delivery.models import Invitation
from pulse.instrument import ITEMS_BY_CODE
from pulse.organisation.models import OrgSetting
from pulse.organisation.service import update_settings
from pulse.people.models import Person
from pulse.people.service import create_user
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle, Schedule, ScheduleTarget
from pulse.teams.models import Membership, Team

ORGANISATION = "Northwind Labs"
TIMEZONE = "Europe/London"
CYCLES = 26
DEMO_PASSWORD = "pulse-demo-2026"
ADMIN_EMAIL = "admin@northwind.example.org"


@dataclass(frozen=True)
class DemoTeam:
    name: str
    department: str
    size: int
    leader_email: str | None
    # Baseline person-level means per theme, before the stories bend them.
    safety: float
    learning: float
    ai: float


TEAMS = (
    DemoTeam("Platform", "Engineering", 13, "leader@northwind.example.org", 3.9, 3.6, 2.6),
    DemoTeam("Payments", "Engineering", 12, "leader@northwind.example.org", 3.8, 3.4, 2.7),
    DemoTeam("Mobile", "Engineering", 4, None, 3.7, 3.5, 2.8),
    # Quality sits next to Mobile so that hiding Mobile's small group costs Quality's figure,
    # not Data's or Payments' (complementary suppression hides the next-smallest sibling).
    DemoTeam("Quality", "Engineering", 6, None, 3.8, 3.6, 2.8),
    DemoTeam("Data", "Engineering", 11, "data.lead@northwind.example.org", 3.6, 3.7, 2.9),
    DemoTeam("Design", "Product & Design", 7, None, 4.0, 3.8, 3.1),
    DemoTeam("Research", "Product & Design", 3, None, 4.1, 3.9, 2.9),
    DemoTeam("Product Management", "Product & Design", 9, None, 3.7, 3.3, 2.7),
    DemoTeam(
        "Customer Support", "Operations", 15, "support.lead@northwind.example.org", 3.3, 3.0, 3.3
    ),
    DemoTeam("Finance", "Operations", 4, None, 3.6, 3.2, 3.0),
    DemoTeam("IT Operations", "Operations", 7, None, 3.7, 3.5, 2.9),
)

SIGN_INS = (
    (ADMIN_EMAIL, "admin", None),
    ("leader@northwind.example.org", "leader", "Engineering"),
    ("data.lead@northwind.example.org", "leader", "Data"),
    ("support.lead@northwind.example.org", "leader", "Customer Support"),
)

FIRST = (
    "Alex",
    "Sam",
    "Jo",
    "Robin",
    "Kim",
    "Lee",
    "Noor",
    "Ari",
    "Mika",
    "Dana",
    "Rui",
    "Ines",
    "Tomas",
    "Lena",
    "Omar",
    "Priya",
    "Yuki",
    "Femi",
    "Hana",
    "Luca",
    "Ada",
    "Emil",
    "Zoe",
    "Ravi",
    "Mei",
    "Ola",
    "Sven",
    "Tara",
    "Nia",
    "Bo",
)
LAST = (
    "Okafor",
    "Silva",
    "Novak",
    "Berg",
    "Haddad",
    "Costa",
    "Tanaka",
    "Moreau",
    "Kowalski",
    "Mensah",
    "Dubois",
    "Jensen",
    "Rossi",
    "Nakamura",
    "Ibrahim",
    "Larsen",
    "Petrov",
    "Ortega",
    "Quinn",
    "Fischer",
)

COMMENTS = {
    "safety": [
        "Retro actions keep slipping; it would help to see someone own them.",
        "I'd speak up more if disagreeing in planning didn't feel like slowing everyone down.",
        "Since the reshuffle I'm not sure who to go to when something is off.",
        "Pairing sessions have made asking for help feel normal again.",
    ],
    "learning": [
        "The blameless review after the outage was the best meeting we've had this year.",
        "We should write down what we expected before launching experiments.",
        "Lessons from failed tests rarely reach the other teams.",
    ],
    "ai": [
        "The coding assistant rollout felt rushed; nobody asked how we work.",
        "The training sessions cleared up a lot of my worries about the new tools.",
        "I'd like clearer guidance on when to double-check the assistant's answers.",
        "Still unsure what the automation plans mean for support roles.",
    ],
}


def story_shift(team: str, theme: str, sequence: int) -> float:
    """How the demo's stories move a team's theme mean in cycle `sequence` (0 = a year ago)."""
    if team == "Data" and theme == "ai":
        # An AI assistant rollout at cycle 8 raises concern; training from cycle 16 eases it.
        if 8 <= sequence < 16:
            return 0.9
        if sequence >= 16:
            return max(0.9 - 0.25 * (sequence - 15), 0.1)
    if team == "Payments" and theme == "safety" and sequence >= 13:
        # A reorganisation at cycle 13 dents psychological safety; recovery is slow.
        return -0.9 + min(0.06 * (sequence - 13), 0.5)
    if team == "Customer Support" and theme == "learning" and sequence >= 6:
        # Blameless reviews from cycle 6 on steadily improve how failures are handled.
        return min(0.05 * (sequence - 6), 0.8)
    if team == "Customer Support" and theme == "ai" and sequence >= 18:
        return 0.4
    return 0.0


def is_present(session: Session) -> bool:
    return session.get(OrgSetting, "demo") is not None


def _clip(value: float, low: int, high: int) -> int:
    return int(min(max(round(value), low), high))


def _answer(rng: random.Random, code: str, latent: float) -> int | None:
    definition = ITEMS_BY_CODE[code]
    # Reverse-worded items are answered in the opposite direction of the construct.
    raw = _clip(latent + rng.gauss(0, 0.7), 1, 5)
    value = 6 - raw if definition.reverse else raw
    if definition.scale == "agree5_dk" and rng.random() < 0.04:
        return None
    if rng.random() < 0.02:
        return None  # skipped
    return value


def _people(session: Session, rng: random.Random, org: Team, start: date) -> dict[str, list[int]]:
    departments: dict[str, Team] = {}
    members: dict[str, list[int]] = {}
    used: set[str] = set()
    for spec in TEAMS:
        if spec.department not in departments:
            departments[spec.department] = Team(
                name=spec.department, kind="department", parent_id=org.id
            )
            session.add(departments[spec.department])
            session.flush()
        team = Team(name=spec.name, kind="team", parent_id=departments[spec.department].id)
        session.add(team)
        session.flush()
        members[spec.name] = []
        for _ in range(spec.size):
            while True:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                email = f"{first}.{last}@northwind.example.org".lower()
                if email not in used:
                    used.add(email)
                    break
            person = Person(email=email, name=f"{first} {last}")
            session.add(person)
            session.flush()
            session.add(Membership(person_id=person.id, team_id=team.id, started_on=start))
            members[spec.name].append(person.id)
    session.flush()
    return members


def _cycle_times(first_open_local: datetime, sequence: int) -> tuple[str, datetime, datetime]:
    opens_local = first_open_local + timedelta(weeks=2 * sequence)
    opens = opens_local.astimezone(ZoneInfo("UTC"))
    return opens_local.strftime("%Y-%m-%dT%H:%M"), opens, opens + timedelta(days=7)


def _answer_cycle(
    session: Session,
    rng: random.Random,
    cycle: Cycle,
    members: dict[str, list[int]],
    traits: dict[int, dict[str, float]],
    team_ids: dict[str, int],
) -> None:
    codes = [ci.item.code for ci in cycle.items]
    item_ids = {ci.item.code: ci.item_id for ci in cycle.items}
    invitations = {
        inv.person_id: inv
        for inv in session.scalars(select(Invitation).where(Invitation.cycle_id == cycle.id))
    }
    for invitation in invitations.values():
        invitation.delivery_state = "sent"
        invitation.sent_at = cycle.opens_at
    for spec in TEAMS:
        rate = rng.uniform(0.65, 0.9)
        for person_id in members[spec.name]:
            invited = invitations.get(person_id)
            if invited is None or rng.random() > rate:
                continue
            invited.answered = True
            response = Response(
                cycle_id=cycle.id,
                team_id=team_ids[spec.name],
                submitted_on=(cycle.opens_at + timedelta(days=rng.randint(0, 4))).date(),
            )
            for code in codes:
                theme = ITEMS_BY_CODE[code].theme
                latent = (
                    getattr(spec, theme)
                    + traits[person_id][theme]
                    + story_shift(spec.name, theme, cycle.sequence)
                )
                response.answers.append(
                    Answer(item_id=item_ids[code], value=_answer(rng, code, latent))
                )
            session.add(response)
            session.flush()
            if rng.random() < 0.18:
                theme = rng.choice(list(COMMENTS))
                session.add(
                    Comment(
                        response_id=response.id,
                        cycle_id=cycle.id,
                        team_id=team_ids[spec.name],
                        theme=theme,
                        body=rng.choice(COMMENTS[theme]),
                    )
                )


def seed(
    session: Session,
    *,
    seed: int = 7,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> bool:
    """Create the demo organisation once; returns False when it is already there."""
    if is_present(session):
        return False
    rng = random.Random(seed)
    now = now or utcnow()
    zone = ZoneInfo(TIMEZONE)
    update_settings(session, name=ORGANISATION, timezone=TIMEZONE)
    session.add(OrgSetting(key="demo", value=str(seed)))
    org = Team(name=ORGANISATION, kind="organisation")
    session.add(org)
    session.flush()

    # The open cycle started on the most recent Monday at 09:00 local, two days ago or less.
    local_now = now.astimezone(zone)
    monday = (local_now - timedelta(days=local_now.weekday())).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    if monday > local_now:
        monday -= timedelta(weeks=1)
    first_open = monday - timedelta(weeks=2 * CYCLES)
    members = _people(session, rng, org, first_open.date() - timedelta(days=30))
    team_ids = dict(session.execute(select(Team.name, Team.id)).all())
    traits = {
        pid: {theme: rng.gauss(0, 0.45) for theme in ("safety", "learning", "ai")}
        for ids in members.values()
        for pid in ids
    }
    for email, role, team in SIGN_INS:
        person = create_user(
            session,
            email=email,
            password=DEMO_PASSWORD,
            role=role,
            team_name=team,
            name=email.split("@")[0].replace(".", " ").title(),
        )
        if role == "leader" and team in members and person.id not in members[team]:
            session.add(
                Membership(
                    person_id=person.id, team_id=team_ids[team], started_on=first_open.date()
                )
            )

    schedule = Schedule(
        name="Fortnightly pulse",
        program="rotating",
        cadence="every_n_weeks",
        interval=2,
        weekday=0,
        local_hour=9,
        timezone=TIMEZONE,
        window_days=7,
        reminder_hours=[48, 120],
        start_date=first_open.date(),
    )
    schedule.targets = [ScheduleTarget(team_id=org.id)]
    session.add(schedule)
    session.flush()

    for sequence in range(CYCLES + 1):
        period_key, opens, closes = _cycle_times(first_open, sequence)
        cycle = create_cycle(
            session,
            schedule_id=schedule.id,
            period_key=period_key,
            sequence=sequence,
            program="rotating",
            opens_at=opens,
            closes_at=closes,
        )
        create_invitations(session, cycle=cycle, target_team_ids={org.id}, on=opens.date())
        if sequence < CYCLES:
            _answer_cycle(session, rng, cycle, members, traits, team_ids)
            cycle.status = "closed"
            cycle.closed_at = closes
        if progress:
            progress(1)
    session.flush()
    return True
