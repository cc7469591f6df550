"""Admin cycles: participation rates only from k invited, failures by reason, resend, and
no page that tells who answered."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.db import utcnow
from pulse.delivery.invitations import create_invitations
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Membership, Team
from tests.conftest import sign_in
from tests.support.task_queue import empty_queue, queued_tasks
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture(autouse=True)
def _leave_the_queue_empty(redis_server: EmbeddedRedis) -> Iterator[None]:
    """Pages here queue real tasks; a worker started by a later test must not run them."""
    yield
    empty_queue(redis_server.url)


@pytest.fixture
def cycle(session: Session) -> Cycle:
    """Acme > Eng > {Big: 5 people (k), Small: 4 people (k-1)}; 3 answered in Big, 2 in Small."""
    org = Team(name="Acme", kind="organisation")
    eng = Team(name="Eng", kind="department", parent=org)
    big = Team(name="Big", parent=eng)
    small = Team(name="Small", parent=eng)
    session.add_all([org, eng, big, small])
    session.flush()
    start = utcnow().date() - timedelta(days=10)
    for team, size in ((big, 5), (small, 4)):
        for i in range(size):
            person = Person(email=f"{team.name.lower()}{i}@example.org", name=f"{team.name} {i}")
            session.add(person)
            session.flush()
            session.add(Membership(person_id=person.id, team_id=team.id, started_on=start))
    opens = utcnow() - timedelta(days=1)
    found = create_cycle(
        session,
        schedule_id=None,
        period_key="2026-W47",
        sequence=0,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    create_invitations(session, cycle=found, target_team_ids={org.id}, on=utcnow().date())
    answered = ["big0@example.org", "big1@example.org", "big2@example.org"]
    answered += ["small0@example.org", "small1@example.org"]
    ids = session.scalars(select(Person.id).where(Person.email.in_(answered))).all()
    session.execute(update(Invitation).where(Invitation.person_id.in_(ids)).values(answered=True))
    for email, error in (
        ("big4@example.org", "550 mailbox unavailable"),
        ("small3@example.org", "550 mailbox unavailable"),
        ("small2@example.org", "553 bad domain"),
    ):
        person_id = session.scalar(select(Person.id).where(Person.email == email))
        session.execute(
            update(Invitation)
            .where(Invitation.person_id == person_id)
            .values(delivery_state="failed", last_error=error, attempts=3)
        )
    session.commit()
    return found


@pytest.fixture
def admin_client(client: FlaskClient, make_user: Callable[..., Person]) -> FlaskClient:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    return client


def test_rates_shown_only_where_k_were_invited(admin_client: FlaskClient, cycle: Cycle) -> None:
    html = admin_client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    rows = {
        cells[0]: cells[1:]
        for cells in (
            [part.split("</td>")[0].split(">")[-1] for part in row.split("<td")[1:]]
            for row in html.split("<tr>")[1:]
        )
        if cells
    }
    assert rows["Big"] == ["5", "60%"]  # n = k: shown
    assert rows["Small"] == ["4", "fewer than 5 invited"]  # n = k - 1: hidden
    assert rows["Eng"] == ["9", "56%"]  # the department includes its subtree
    assert rows["Acme"] == ["9", "56%"]
    listing = admin_client.get("/admin/cycles").get_data(as_text=True)
    assert "2026-W47" in listing and "56%" in listing


def test_threshold_applies_to_the_list_too(
    admin_client: FlaskClient, cycle: Cycle, session: Session
) -> None:
    admin_client.post("/admin/settings", data={"name": "Acme", "timezone": "UTC", "threshold": 10})
    listing = admin_client.get("/admin/cycles").get_data(as_text=True)
    assert "fewer than 10 invited" in listing and "56%" not in listing


def test_failures_grouped_by_reason(admin_client: FlaskClient, cycle: Cycle) -> None:
    html = admin_client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "<td>550 mailbox unavailable</td><td>2</td>" in html
    assert "<td>553 bad domain</td><td>1</td>" in html


def test_no_page_tells_who_answered(
    admin_client: FlaskClient, cycle: Cycle, session: Session
) -> None:
    failed = {"big4@example.org", "small3@example.org", "small2@example.org"}
    everyone = set(session.scalars(select(Person.email).where(Person.email != "admin@example.org")))
    for path in ("/admin/cycles", f"/admin/cycles/{cycle.id}"):
        html = admin_client.get(path).get_data(as_text=True).lower()
        for email in everyone - failed:
            assert email not in html, (path, email)
        assert "answered" not in html and "responded" not in html
    # The people pages list people, never their answering.
    people = admin_client.get("/admin/people").get_data(as_text=True).lower()
    assert "answered" not in people
    big0 = session.scalar(select(Person.id).where(Person.email == "big0@example.org"))
    big3 = session.scalar(select(Person.id).where(Person.email == "big3@example.org"))
    # CSRF tokens carry a timestamp, so two page loads may differ there and nowhere else.
    page_answered, page_silent = (
        re.sub(
            r'(csrf_token[^>]*value=")[^"]*', r"\1", admin_client.get(path).get_data(as_text=True)
        )
        for path in (f"/admin/people/{big0}", f"/admin/people/{big3}")
    )
    assert page_answered.replace("big0", "bigX").replace("Big 0", "Big X") == page_silent.replace(
        "big3", "bigX"
    ).replace("Big 3", "Big X").replace(f"/{big3}", f"/{big0}")


def test_resend_sets_failed_back_to_pending_and_queues_delivery(
    admin_client: FlaskClient, cycle: Cycle, session: Session, redis_server: EmbeddedRedis
) -> None:
    response = admin_client.post(f"/admin/cycles/{cycle.id}/resend")
    assert response.status_code == 302
    states = session.execute(
        select(Invitation.delivery_state, Invitation.attempts).where(
            Invitation.cycle_id == cycle.id, Invitation.last_error.is_not(None)
        )
    ).all()
    assert sorted(states) == [("pending", 3)] * 3
    assert ("worker.delivery.send_invitations", [cycle.id]) in queued_tasks(redis_server.url)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "cycle.resend_failed")
    ).one()
    assert event.detail == {"invitations": 3}


def test_resend_refused_on_a_closed_cycle(
    admin_client: FlaskClient, cycle: Cycle, session: Session
) -> None:
    session.execute(update(Cycle).where(Cycle.id == cycle.id).values(status="closed"))
    session.commit()
    assert admin_client.post(f"/admin/cycles/{cycle.id}/resend").status_code == 409
    failed = session.scalars(select(Invitation).where(Invitation.delivery_state == "failed")).all()
    assert len(failed) == 3
    assert admin_client.get("/admin/cycles/9999").status_code == 404
