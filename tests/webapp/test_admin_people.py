"""Admin people pages: CSV import (upload, preview, confirm), edit, move, deactivate."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.people.models import Person
from pulse.teams.models import Membership, Team
from tests.conftest import sign_in
from tests.support.people_csv import bad_people_file, people_rows, to_csv


@pytest.fixture
def admin(client: FlaskClient, make_user: Callable[..., Person]) -> Person:
    person = make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    return person


def upload(client: FlaskClient, content: bytes, **extra: str) -> object:
    data = {"file": (io.BytesIO(content), "people.csv"), **extra}
    return client.post("/admin/people/import", data=data, content_type="multipart/form-data")


def payload_of(html: str) -> str:
    return html.split('name="payload" type="hidden" value="', 1)[1].split('"', 1)[0]


def people_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Person)) or 0


def test_bad_file_shows_each_error_by_line_and_writes_nothing(
    client: FlaskClient, session: Session, admin: Person
) -> None:
    content, expected = bad_people_file(200)
    response = upload(client, content)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "5 problems found. Nothing was imported." in html
    for line, reason in expected.items():
        assert f"<td>{line}</td><td>{reason}" in html
    assert people_count(session) == 1
    assert 'name="payload"' not in html


def test_preview_then_confirm_imports_and_audits(
    client: FlaskClient, session: Session, admin: Person
) -> None:
    response = upload(client, to_csv(people_rows(200)))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'People created</dt><dd class="col-sm-7">200' in html
    assert people_count(session) == 1  # the preview wrote nothing
    confirmed = client.post("/admin/people/import/confirm", data={"payload": payload_of(html)})
    assert confirmed.status_code == 302
    assert people_count(session) == 201
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "people.import")).one()
    assert event.actor_email == "admin@example.org"
    assert event.detail["people_created"] == 200 and event.detail["file"] == "people.csv"
    again = upload(client, to_csv(people_rows(200)))
    assert 'People unchanged</dt><dd class="col-sm-7">200' in again.get_data(as_text=True)


def test_an_altered_preview_is_refused(
    client: FlaskClient, session: Session, admin: Person
) -> None:
    html = upload(client, to_csv(people_rows(3))).get_data(as_text=True)
    payload = payload_of(html)
    tampered = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    response = client.post("/admin/people/import/confirm", data={"payload": tampered})
    assert response.status_code == 400
    assert "expired or was altered" in response.get_data(as_text=True)
    assert people_count(session) == 1


def test_too_large_uploads_get_friendly_pages(client: FlaskClient, admin: Person) -> None:
    over_file_limit = b"email,name,team\n" + b"x" * (1024 * 1024 + 10)
    response = upload(client, over_file_limit)
    assert response.status_code == 422
    assert "larger than 1 MB" in response.get_data(as_text=True)
    over_request_limit = b"x" * (2 * 1024 * 1024 + 10)
    response = upload(client, over_request_limit)
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "That upload is too large" in html and "<html" in html


def test_missing_file_is_a_clear_error(client: FlaskClient, admin: Person) -> None:
    response = client.post("/admin/people/import", data={})
    assert response.status_code == 422
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_search_edit_move_and_deactivate(
    client: FlaskClient, session: Session, admin: Person
) -> None:
    html = upload(client, to_csv(people_rows(40))).get_data(as_text=True)
    client.post("/admin/people/import/confirm", data={"payload": payload_of(html)})
    listing = client.get("/admin/people?q=person0012").get_data(as_text=True)
    assert "person0012@example.org" in listing and "person0013@example.org" not in listing
    person = session.scalars(select(Person).where(Person.email == "person0012@example.org")).one()
    response = client.post(
        f"/admin/people/{person.id}", data={"name": "Twelve", "email": "Twelve@Example.org"}
    )
    assert response.status_code == 302
    clash = client.post(
        f"/admin/people/{person.id}", data={"name": "Twelve", "email": "person0001@example.org"}
    )
    assert clash.status_code == 422
    assert "already belongs to someone else" in clash.get_data(as_text=True)
    data = session.scalars(select(Team).where(Team.name == "Data")).one()
    assert (
        client.post(f"/admin/people/{person.id}/move", data={"team_id": data.id}).status_code == 302
    )
    assert client.post(f"/admin/people/{person.id}/deactivate").status_code == 302
    session.expire_all()
    person = session.get(Person, person.id)
    assert person is not None
    assert (person.name, person.email, person.active) == ("Twelve", "twelve@example.org", False)
    memberships = session.scalars(
        select(Membership).where(Membership.person_id == person.id).order_by(Membership.id)
    ).all()
    assert len(memberships) == 2 and memberships[0].ended_on is not None
    assert memberships[1].team_id == data.id and memberships[1].ended_on is None
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["person.update", "person.move", "person.deactivate"]
    page = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert "Membership history" in page and "deactivated" in page
    assert client.get("/admin/people/99999").status_code == 404
