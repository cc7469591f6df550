"""Admin schedule pages: create with preview, edit, pause, delete; every change audited."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.people.models import Person
from pulse.surveys.models import Schedule
from tests.conftest import sign_in
from tests.support.delivery_org import make_org


def form(team_id: int, **overrides: str) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Fortnightly",
        "program": "rotating",
        "cadence": "every_n_weeks",
        "interval": "2",
        "weekday": "0",
        "nth": "1",
        "local_hour": "9",
        "timezone": "Europe/London",
        "window_days": "5",
        "reminder_1": "48",
        "reminder_2": "96",
        "start_date": "2027-10-11",
        "end_date": "",
        "targets": [str(team_id)],
    }
    data.update(overrides)
    return data


def admin_client(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> tuple[FlaskClient, int]:
    make_user("boss@example.org", "admin")
    org = make_org(session, {"Alpha": 2})
    sign_in(client, "boss@example.org")
    return client, org.org_id


def actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_members_and_anonymous_visitors_cannot_reach_schedules(client: FlaskClient) -> None:
    assert client.get("/admin/schedules").status_code in {302, 401}


def test_preview_shows_send_times_email_and_survey_and_saves_nothing(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    client, org_id = admin_client(client, session, make_user)
    page = client.post("/admin/schedules/new", data={**form(org_id), "preview": "1"})
    assert page.status_code == 200
    text = page.text
    # The series crosses the end of British summer time: 09:00 either way.
    assert "Monday 11 October 2027, 09:00 BST" in text
    assert "Monday 08 November 2027, 09:00 GMT" in text
    assert text.count("<li>Monday") == 5
    assert "Strongly agree" in text and "srcdoc=" in text  # the email
    assert "feels safe to take a risk" in text  # the survey
    assert session.scalars(select(Schedule)).all() == []


def test_create_edit_pause_delete_are_audited(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    client, org_id = admin_client(client, session, make_user)
    saved = client.post("/admin/schedules/new", data={**form(org_id), "save": "1"})
    assert saved.status_code == 302
    schedule = session.scalars(select(Schedule)).one()
    assert schedule.reminder_hours == [48, 96] and schedule.timezone == "Europe/London"
    listing = client.get("/admin/schedules").text
    assert "Every 2 weeks on Monday at 09:00 Europe/London" in listing

    edit = client.get(f"/admin/schedules/{schedule.id}/edit")
    assert 'value="Fortnightly"' in edit.text
    client.post(
        f"/admin/schedules/{schedule.id}/edit",
        data={**form(org_id, name="Weekly", cadence="weekly"), "save": "1"},
    )
    client.post(f"/admin/schedules/{schedule.id}/pause", data={"paused": "1"})
    session.expire_all()
    schedule = session.get(Schedule, schedule.id)
    assert schedule is not None and schedule.name == "Weekly" and schedule.paused
    client.post(f"/admin/schedules/{schedule.id}/pause", data={"paused": "0"})
    client.post(f"/admin/schedules/{schedule.id}/delete")
    assert session.scalars(select(Schedule)).all() == []
    assert [a for a in actions(session) if a.startswith("schedule.")] == [
        "schedule.create",
        "schedule.update",
        "schedule.pause",
        "schedule.resume",
        "schedule.delete",
    ]


def test_invalid_schedules_are_refused_with_a_message_and_nothing_saved(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    client, org_id = admin_client(client, session, make_user)
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"reminder_1": "500"},
        {"end_date": "2020-01-01"},
        {"window_days": "0"},
        {"targets": []},
    ):
        reply = client.post("/admin/schedules/new", data={**form(org_id, **bad), "save": "1"})
        assert reply.status_code == 422, bad
    assert session.scalars(select(Schedule)).all() == []
    assert not [a for a in actions(session) if a.startswith("schedule.")]


def test_unknown_schedule_is_404(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    client, _ = admin_client(client, session, make_user)
    assert client.get("/admin/schedules/999/edit").status_code == 404
