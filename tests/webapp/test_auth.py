"""Sign-in, sign-out, roles, CSRF and no user enumeration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.config import ConfigError, Settings
from pulse.people.models import Person
from pulse.people.service import set_password
from pulse.teams.models import Team
from tests.conftest import PASSWORD, make_settings, sign_in
from webapp import create_app
from webapp.auth.views import GENERIC_FAILURE


def test_sign_in_page_renders(client: FlaskClient) -> None:
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert b'name="email"' in page.data and b'name="password"' in page.data


def test_admin_signs_in_is_audited_and_lands_on_the_dashboard(
    client: FlaskClient, make_user: Callable[..., Person], session: Session
) -> None:
    make_user("ada@example.org", role="admin")
    response = sign_in(client, "Ada@Example.org")
    assert response.status_code == 302
    assert client.get("/").location == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.sign_in"))
    assert [e.actor_email for e in events] == ["ada@example.org"]


def test_wrong_password_and_unknown_email_read_the_same(
    client: FlaskClient, make_user: Callable[..., Person]
) -> None:
    make_user("ada@example.org")
    wrong = sign_in(client, "ada@example.org", "not the password")
    unknown = sign_in(client, "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC_FAILURE.encode() in wrong.data
    assert wrong.data.replace(b"ada@", b"nobody@") == unknown.data
    assert client.get("/dashboard/").status_code == 302


def test_deactivated_people_cannot_sign_in(
    client: FlaskClient, make_user: Callable[..., Person], session: Session
) -> None:
    person = make_user("ada@example.org")
    person.active = False
    session.commit()
    assert sign_in(client, "ada@example.org").status_code == 401


def test_sign_out_ends_the_session(client: FlaskClient, make_user: Callable[..., Person]) -> None:
    make_user("ada@example.org")
    sign_in(client, "ada@example.org")
    assert client.post("/sign-out").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_password_change_signs_out_other_sessions(
    client: FlaskClient, make_user: Callable[..., Person], session: Session
) -> None:
    person = make_user("ada@example.org")
    sign_in(client, "ada@example.org")
    assert client.get("/admin/").status_code == 200
    set_password(session, person=person, password="another long password")
    session.commit()
    assert client.get("/admin/").status_code == 302


def test_next_only_follows_local_paths(
    client: FlaskClient, make_user: Callable[..., Person]
) -> None:
    make_user("ada@example.org")
    data = {"email": "ada@example.org", "password": PASSWORD}
    assert client.post("/sign-in?next=/admin/", data=data).location == "/admin/"
    client.post("/sign-out")
    evil = client.post("/sign-in?next=https://evil.example/", data=data)
    assert evil.location == "/"


def test_roles_guard_admin_pages(
    client: FlaskClient, make_user: Callable[..., Person], session: Session
) -> None:
    session.add(Team(name="Platform"))
    session.commit()
    make_user("lead@example.org", role="leader", team="Platform")
    sign_in(client, "lead@example.org")
    assert client.get("/admin/").status_code == 403
    assert client.get("/dashboard/").status_code == 200


def test_anonymous_admin_page_redirects_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.location.startswith("/sign-in")


def test_csrf_is_enforced_on_sign_in(settings: Settings, make_user: Callable[..., Person]) -> None:
    app: Flask = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": False})
    make_user("ada@example.org")
    client = app.test_client()
    refused = client.post("/sign-in", data={"email": "ada@example.org", "password": PASSWORD})
    assert refused.status_code == 400
    page = client.get("/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    accepted = client.post(
        "/sign-in", data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert accepted.status_code == 302
    app.extensions["pulse.db"][0].dispose()


def test_production_app_refuses_default_secret(database_url: str) -> None:
    with pytest.raises(ConfigError):
        make_settings(
            database_url,
            "redis://127.0.0.1:1/0",
            PULSE_ENV="production",
            PULSE_SECRET_KEY="",
            PULSE_MAIL_BACKEND="smtp",
        )
