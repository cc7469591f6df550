"""The answer page states the cycle's thresholds before anyone answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.tokens import new_token, token_hash
from pulse.organisation.service import update_settings
from pulse.people.models import Person
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.conftest import make_settings
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis

TEST_APP = {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def invited(session: Session, *, sequence: int = 0) -> tuple[Cycle, str]:
    """An open cycle with one invited person; returns the cycle and the person's link token."""
    team = Team(name=f"Team {sequence}", kind="team")
    person = Person(email=f"person{sequence}@example.org", name="Person")
    session.add_all([team, person])
    session.flush()
    now = utcnow()
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key=f"p{sequence}",
        sequence=sequence,
        program="rotating",
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=3),
    )
    invitation = Invitation(cycle_id=cycle.id, person_id=person.id, team_id=team.id)
    session.add(invitation)
    session.flush()
    token = new_token()
    session.add(InvitationLink(invitation_id=invitation.id, token_hash=token_hash(token)))
    session.commit()
    return cycle, token


def rule(client: FlaskClient, token: str) -> str:
    """The page's statement of the thresholds, on one line."""
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    found = re.search(r'<p class="mb-3" id="privacy-rule">(.*?)</p>', page.text, re.S)
    assert found is not None
    return " ".join(found.group(1).split())


def test_the_page_states_the_thresholds_before_anyone_answers(
    client: FlaskClient, session: Session
) -> None:
    update_settings(session, threshold=6, threshold_participation=4, threshold_comments=8)
    session.commit()
    _, token = invited(session)
    assert rule(client, token) == (
        "Your team's results are shown only when at least 6 people have answered, and comments "
        "only when at least 8 have. How many took part is shown only where at least 4 people "
        "were invited. Nobody, admins included, can see which answers are yours or list who "
        "has answered."
    )
    page = client.get(f"/s/{token}").text
    assert "Shown to leaders only when at least 8 people have answered" in page


def test_equal_thresholds_are_stated_once(client: FlaskClient, session: Session) -> None:
    update_settings(session, threshold=5, threshold_comments=5)
    session.commit()
    _, token = invited(session)
    assert rule(client, token).startswith(
        "Your team's results and comments are shown only when at least 5 people have answered."
    )


def test_the_page_states_the_cycle_s_effective_thresholds(
    client: FlaskClient, session: Session
) -> None:
    update_settings(session, threshold=6, threshold_participation=6, threshold_comments=8)
    session.commit()
    earlier, token = invited(session, sequence=0)

    # Lowering: the cycle already open keeps what it promised; a later one gets the new values.
    update_settings(session, threshold=4, threshold_participation=3, threshold_comments=5)
    session.commit()
    assert "at least 6 people have answered, and comments only when at least 8" in rule(
        client, token
    )
    assert "at least 6 people were invited" in rule(client, token)
    _, later = invited(session, sequence=1)
    assert "at least 4 people have answered, and comments only when at least 5" in rule(
        client, later
    )
    assert "at least 3 people were invited" in rule(client, later)

    # Raising applies at once, to the open cycle too.
    update_settings(session, threshold=7, threshold_participation=9, threshold_comments=9)
    session.commit()
    for link in (token, later):
        statement = rule(client, link)
        assert "at least 7 people have answered, and comments only when at least 9" in statement
        assert "at least 9 people were invited" in statement
    session.refresh(earlier)
    assert (earlier.k_scores, earlier.k_participation, earlier.k_comments) == (6, 6, 8)


@pytest.fixture
def configured_app(database_url: str, redis_server: EmbeddedRedis) -> Iterator[Flask]:
    settings = make_settings(
        database_url,
        redis_server.url,
        PULSE_THRESHOLD="6",
        PULSE_THRESHOLD_PARTICIPATION="7",
        PULSE_THRESHOLD_COMMENTS="9",
    )
    app = create_app({"PULSE": settings, **TEST_APP})
    yield app
    app.extensions["pulse.db"][0].dispose()


def test_a_cycle_that_locked_nothing_states_the_configured_defaults(
    configured_app: Flask, session: Session
) -> None:
    cycle, token = invited(session)
    cycle.k_scores = cycle.k_participation = cycle.k_comments = None  # opened before locking
    session.commit()
    statement = rule(configured_app.test_client(), token)
    assert "at least 6 people have answered, and comments only when at least 9" in statement
    assert "at least 7 people were invited" in statement
