"""Admin team pages: create, rename, move (no loops), archive, leaders and invitations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.delivery.models import OutboxMessage
from pulse.people.models import Person
from pulse.teams.models import Team
from pulse.teams.tree import create_team
from tests.conftest import make_settings, sign_in
from tests.support.smtp import SMTPServer
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture
def tree(session: Session) -> dict[str, int]:
    org = create_team(session, name="Acme", parent_id=None, kind="organisation")
    eng = create_team(session, name="Eng", parent_id=org.id, kind="department")
    web = create_team(session, name="Web", parent_id=eng.id)
    session.commit()
    return {"org": org.id, "eng": eng.id, "web": web.id}


@pytest.fixture
def admin_client(client: FlaskClient, make_user: Callable[..., Person]) -> FlaskClient:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    return client


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_create_rename_move_archive(
    admin_client: FlaskClient, session: Session, tree: dict[str, int]
) -> None:
    created = admin_client.post(
        "/admin/teams", data={"name": "Data", "parent_id": tree["eng"], "kind": "team"}
    )
    assert created.status_code == 302
    data = session.scalars(select(Team).where(Team.name == "Data")).one()
    duplicate = admin_client.post(
        "/admin/teams", data={"name": "data", "parent_id": tree["eng"], "kind": "team"}
    )
    assert duplicate.status_code == 422
    assert "already a team named" in duplicate.get_data(as_text=True)
    assert (
        admin_client.post(f"/admin/teams/{data.id}/rename", data={"name": "Analytics"}).status_code
        == 302
    )
    loop = admin_client.post(f"/admin/teams/{tree['eng']}/move", data={"parent_id": tree["web"]})
    assert loop.status_code == 422
    assert "would make a loop" in loop.get_data(as_text=True)
    assert (
        admin_client.post(
            f"/admin/teams/{data.id}/move", data={"parent_id": tree["org"]}
        ).status_code
        == 302
    )
    refused = admin_client.post(f"/admin/teams/{tree['eng']}/archive")
    assert refused.status_code == 422 and "sub-team" in refused.get_data(as_text=True)
    assert admin_client.post(f"/admin/teams/{data.id}/archive").status_code == 302
    session.expire_all()
    data = session.get(Team, data.id)
    assert data is not None
    assert (data.name, data.parent_id, data.archived_at is not None) == (
        "Analytics",
        tree["org"],
        True,
    )
    assert actions(session)[-4:] == ["team.create", "team.rename", "team.move", "team.archive"]
    tree_page = admin_client.get("/admin/teams").get_data(as_text=True)
    assert "Analytics</a> (archived)" in tree_page


def test_assign_and_remove_a_leader(
    admin_client: FlaskClient, session: Session, tree: dict[str, int]
) -> None:
    session.add(Person(email="lee@example.org", name="Lee"))
    session.commit()
    unknown = admin_client.post(
        f"/admin/teams/{tree['web']}/leaders", data={"email": "nobody@example.org"}
    )
    assert unknown.status_code == 422 and "invite them" in unknown.get_data(as_text=True)
    added = admin_client.post(
        f"/admin/teams/{tree['web']}/leaders", data={"email": "LEE@example.org"}
    )
    assert added.status_code == 302
    lee = session.scalars(select(Person).where(Person.email == "lee@example.org")).one()
    session.refresh(lee)
    assert lee.led_team_ids == [tree["web"]]
    page = admin_client.get(f"/admin/teams/{tree['web']}").get_data(as_text=True)
    assert "Lee (lee@example.org) · not signed up yet" in page
    removed = admin_client.post(f"/admin/teams/{tree['web']}/leaders/{lee.id}/remove")
    assert removed.status_code == 302
    session.expire_all()
    lee = session.get(Person, lee.id)
    assert lee is not None and lee.led_team_ids == []
    again = admin_client.post(f"/admin/teams/{tree['web']}/leaders/{lee.id}/remove")
    assert again.status_code == 404
    assert actions(session)[-2:] == ["leader.assign", "leader.remove"]


def test_invite_a_leader_sends_a_link(
    admin_client: FlaskClient, session: Session, tree: dict[str, int]
) -> None:
    response = admin_client.post(
        "/admin/leaders/invite",
        data={"email": "New.Lead@example.org", "name": "New Lead", "team_id": tree["eng"]},
    )
    assert response.status_code == 302
    person = session.scalars(select(Person).where(Person.email == "new.lead@example.org")).one()
    assert person.led_team_ids == [tree["eng"]]
    message = session.scalars(select(OutboxMessage)).one()
    assert message.to_addr == "new.lead@example.org" and "/invite/" in message.text_body
    assert actions(session)[-1] == "leader.invite"


def test_invitation_mail_failure_changes_nothing(
    database_url: str,
    redis_server: EmbeddedRedis,
    smtp_server: SMTPServer,
    make_user: Callable[..., Person],
    session: Session,
    tree: dict[str, int],
) -> None:
    settings = make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
    )
    app: Flask = create_app(
        {"PULSE": settings, "TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}
    )
    make_user("admin@example.org")
    client = app.test_client()
    sign_in(client, "admin@example.org")
    smtp_server.mailbox.refuse["lead@example.org"] = (550, "no such user")
    response = client.post(
        "/admin/leaders/invite",
        data={"email": "lead@example.org", "name": "Lead", "team_id": tree["web"]},
    )
    assert response.status_code == 502
    assert "could not be sent, so nothing was changed: 550 no such user" in response.get_data(
        as_text=True
    )
    assert session.scalars(select(Person).where(Person.email == "lead@example.org")).all() == []
    app.extensions["pulse.db"][0].dispose()
