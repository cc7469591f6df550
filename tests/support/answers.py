"""Answers stored the way a real submit stores them: an answered invitation beside a response.

A cycle's hiding pattern is decided from the number of people who answered their invitation,
so a test that stores a response must also store the invitation it came from.
"""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Response
from pulse.delivery.models import Invitation
from pulse.organisation.models import OrgSetting
from pulse.people.models import Person
from pulse.reporting.dirty import mark_dirty
from pulse.surveys.models import Cycle

_people = itertools.count(1)


def respond(
    session: Session,
    *,
    cycle_id: int,
    team_id: int,
    answers: list[Answer],
    submitted_on: date,
) -> Response:
    """An invited person of the team answers the cycle: an answered invitation and a response.

    The person and the response are not linked, as in the product.
    """
    person = Person(email=f"respondent-{next(_people)}@pulse.test", name="Respondent")
    session.add(person)
    session.flush()
    session.add(Invitation(cycle_id=cycle_id, person_id=person.id, team_id=team_id, answered=True))
    response = Response(cycle_id=cycle_id, team_id=team_id, submitted_on=submitted_on)
    response.answers = answers
    session.add(response)
    session.flush()
    return response


def invite(session: Session, *, cycle_id: int, team_id: int, count: int) -> None:
    """Invite `count` more people of the team who do not answer."""
    for _ in range(count):
        person = Person(email=f"invitee-{next(_people)}@pulse.test", name="Invitee")
        session.add(person)
        session.flush()
        session.add(Invitation(cycle_id=cycle_id, person_id=person.id, team_id=team_id))
    session.flush()
    # As create_invitations does: the team's participation counts are due from the start.
    mark_dirty(session, team_id=team_id, cycle_id=cycle_id)


def close(session: Session, *cycles: Cycle) -> None:
    """Close cycles so that their results may be read (open cycles are sealed)."""
    for cycle in cycles:
        cycle.status = "closed"
    session.flush()


def set_thresholds(
    session: Session,
    *,
    scores: int | None = None,
    participation: int | None = None,
    comments: int | None = None,
) -> None:
    """Store the organisation's thresholds, as the settings page does; cycles opened after this
    lock them."""
    for key, value in (
        ("threshold", scores),
        ("threshold_participation", participation),
        ("threshold_comments", comments),
    ):
        if value is None:
            continue
        row = session.get(OrgSetting, key)
        if row is None:
            session.add(OrgSetting(key=key, value=str(value)))
        else:
            row.value = str(value)
    session.flush()
