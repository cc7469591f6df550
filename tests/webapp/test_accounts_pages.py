"""Forgot password, reset and invitation pages; sign-in and reset requests rate-limited on Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.accounts.tokens import issue_token
from pulse.audit.models import AuditEvent
from pulse.delivery.models import OutboxMessage
from pulse.delivery.tokens import new_token
from pulse.people.models import Person
from pulse.people.service import grant_role
from pulse.teams.tree import create_team
from tests.conftest import make_settings, sign_in
from webapp import create_app
from webapp.survey.views import _answer_page_is_not_rate_limited
from worker.embedded_redis import EmbeddedRedis

SENT = "If an account exists for that address, we sent it a link"


def test_forgot_password_never_tells_whether_an_account_exists(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    answers = []
    for address in ("admin@example.org", "nobody@example.org"):
        response = client.post("/forgot-password", data={"email": address})
        assert response.status_code == 302
        answers.append(
            (
                response.headers["Location"],
                client.get(response.headers["Location"]).get_data(as_text=True),
            )
        )
    assert answers[0] == answers[1]
    assert SENT in answers[0][1]
    assert [m.to_addr for m in session.scalars(select(OutboxMessage))] == ["admin@example.org"]


def test_reset_link_sets_the_password_once(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    client.post("/forgot-password", data={"email": "admin@example.org"})
    body = session.scalars(select(OutboxMessage)).one().text_body
    path = "/reset/" + body.split("/reset/", 1)[1].split()[0]
    assert client.get(path).status_code == 200
    mismatch = client.post(path, data={"password": "a long new password", "confirm": "other"})
    assert mismatch.status_code == 422 and "The passwords differ" in mismatch.get_data(as_text=True)
    short = client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422
    done = client.post(
        path, data={"password": "a long new password", "confirm": "a long new password"}
    )
    assert done.status_code == 302
    assert sign_in(client, "admin@example.org", "a long new password").status_code == 302
    client.post("/sign-out")
    again = client.post(
        path, data={"password": "another password 1", "confirm": "another password 1"}
    )
    assert again.status_code == 410
    assert client.get("/reset/made-up-token").status_code == 410
    assert session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "account.password_reset")
    ).all() == ["account.password_reset"]


def test_invitation_link_lets_a_leader_sign_in(client: FlaskClient, session: Session) -> None:
    org = create_team(session, name="Acme", parent_id=None, kind="organisation")
    lea = Person(email="lea@example.org", name="Lea")
    session.add(lea)
    session.flush()
    grant_role(session, person=lea, role="leader", team=org)
    raw = issue_token(session, person=lea, purpose="invite")
    session.commit()
    page = client.get(f"/invite/{raw}").get_data(as_text=True)
    assert "Welcome to Team Pulse" in page
    assert client.get(f"/reset/{raw}").status_code == 410  # an invite is not a reset link
    response = client.post(
        f"/invite/{raw}", data={"password": "leader password 1", "confirm": "leader password 1"}
    )
    assert response.status_code == 302
    assert sign_in(client, "lea@example.org", "leader password 1").status_code == 302
    assert client.get("/admin/").status_code == 403


def limited_app(database_url: str, redis_server: EmbeddedRedis) -> Flask:
    settings = make_settings(database_url, redis_server.url)
    return create_app(
        {
            "PULSE": settings,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            # A fresh key space per test keeps counts from other runs out.
            "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    )


def test_sign_in_is_rate_limited_on_redis(
    database_url: str, redis_server: EmbeddedRedis, make_user: Callable[..., Person]
) -> None:
    app = limited_app(database_url, redis_server)
    make_user("admin@example.org")
    client = app.test_client()
    # A different account each time: the per-address limit, apart from the per-account one
    # (tests/webapp/test_sign_in_throttling.py).
    codes = [
        client.post(
            "/sign-in", data={"email": f"admin{i}@example.org", "password": "wrong one!"}
        ).status_code
        for i in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    # The right password is refused too while the limit holds.
    assert sign_in(client, "admin@example.org").status_code == 429
    assert "Too many attempts" in client.post("/sign-in", data={}).get_data(as_text=True)
    app.extensions["pulse.db"][0].dispose()


def test_forgot_password_is_rate_limited_on_redis(
    database_url: str, redis_server: EmbeddedRedis, session: Session
) -> None:
    app = limited_app(database_url, redis_server)
    client = app.test_client()
    codes = [
        client.post("/forgot-password", data={"email": f"x{i}@example.org"}).status_code
        for i in range(6)
    ]
    assert codes == [302] * 5 + [429]
    assert client.get("/forgot-password").status_code == 200  # reading the page is not limited
    app.extensions["pulse.db"][0].dispose()


def test_the_answer_page_alone_is_left_out_of_rate_limiting(
    database_url: str, redis_server: EmbeddedRedis
) -> None:
    """A whole company may answer from one address within the hour: the answer page is
    never rate limited, while sign-in from that same address still is."""
    app = limited_app(database_url, redis_server)
    client = app.test_client()
    token = new_token()  # well formed, unknown
    codes = {client.post(f"/s/{token}", data={}).status_code for _ in range(30)}
    assert codes == {404}
    signing_in = [client.post("/sign-in", data={"email": "a@example.org"}) for _ in range(11)]
    assert signing_in[-1].status_code == 429
    with app.test_request_context(f"/s/{token}", method="POST"):
        assert _answer_page_is_not_rate_limited()
    with app.test_request_context("/sign-in", method="POST"):
        assert not _answer_page_is_not_rate_limited()
    app.extensions["pulse.db"][0].dispose()
