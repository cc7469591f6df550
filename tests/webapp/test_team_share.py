"""Sharing a team's report: email through a real SMTP server, the token page, stop, limits."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.sharing.models import ShareDelivery, TeamShare
from pulse.sharing.service import share_report
from pulse.sharing.tokens import share_token
from tests.conftest import PASSWORD, make_settings, sign_in
from tests.support.live_server import live_server
from tests.support.smtp import SMTPServer
from tests.support.task_queue import empty_queue, queued_tasks
from tests.webapp.report_world import (
    COMMENT,
    OWNED_ACTION,
    K,
    ReportWorld,
    add_actions,
    build_world,
)
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis
from worker.sharing import SEND_SHARE_TASK, send_share

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
LINK = re.compile(r"http://127\.0\.0\.1:5000/shared/([A-Za-z0-9_-]{43})")


@pytest.fixture
def settings(database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer) -> Settings:
    return make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_HOST="127.0.0.1",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
    )


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _invited(session: Session, world: ReportWorld) -> list[str]:
    query = (
        select(Person.email)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Invitation.cycle_id == world.cycle.id, Invitation.team_id == world.target.id)
    )
    return sorted(session.scalars(query))


def _run_queued(app: Flask, settings: Settings) -> int:
    """Run the share tasks waiting in the real broker, as a worker would; how many ran."""
    tasks = [args for name, args in queued_tasks(settings.redis_url) if name == SEND_SHARE_TASK]
    empty_queue(settings.redis_url)
    with app.app_context():
        for args in tasks:
            send_share(*args)  # type: ignore[misc]
    return len(tasks)


def _counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(TeamShare)) or 0,
        session.scalar(select(func.count()).select_from(ShareDelivery)) or 0,
        session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


@BOTH
def test_share_emails_each_member_once_and_the_link_works_until_stopped(
    app: Flask,
    client: FlaskClient,
    session: Session,
    settings: Settings,
    smtp_server: SMTPServer,
    make_user: Callable[..., Person],
) -> None:
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    add_actions(session, world, leader)
    sign_in(client, "lead@example.org")
    page = client.get(world.url()).get_data(as_text=True)
    assert "Share with the team" in page

    shared = client.post(world.url(suffix="/share"))
    assert shared.status_code == 302
    queued = queued_tasks(settings.redis_url)
    assert [name for name, _ in queued] == [SEND_SHARE_TASK]
    assert _run_queued(app, settings) == 1

    mailbox = smtp_server.mailbox
    assert sorted(mailbox.recipients()) == _invited(session, world)
    assert len(mailbox.recipients()) == K + 2  # those who answered and those who did not
    assert max(Counter(mailbox.recipients()).values()) == 1
    message = mailbox.messages[0]
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Written comments stay with the leader" in body
    tokens = {LINK.search(m.get_body(("plain",)).get_content()).group(1) for m in mailbox.messages}  # type: ignore[union-attr]
    assert len(tokens) == 1  # one team link
    token = tokens.pop()
    # Only its hash is stored, and the queued task carried the share's id, not the token.
    stored = session.scalar(select(TeamShare))
    assert stored is not None and token not in (stored.token_hash, stored.token_salt)
    assert token not in repr(queued)

    # The emailed link opens the report with no sign-in, without comments, with the actions.
    visitor = app.test_client()
    response = visitor.get(f"/shared/{token}")
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    text = _text(response.get_data(as_text=True))
    assert "Target" in text and f"{K} of {K + 2} invited answered" in text
    assert COMMENT not in text
    assert "Written comments stay with the team's leader" in text
    assert OWNED_ACTION in text
    assert "An abandoned idea" not in text

    # Sharing again emails nobody twice.
    again = client.post(world.url(suffix="/share"), follow_redirects=True)
    assert "Already shared" in again.get_data(as_text=True)
    _run_queued(app, settings)
    assert len(mailbox.recipients()) == K + 2
    assert f"{K + 2} of {K + 2} emailed" in _text(client.get(world.url()).get_data(as_text=True))

    # Stopping makes the link a 404 that writes nothing.
    assert client.post(world.url(suffix="/share/stop")).status_code == 302
    before = _counts(session)
    gone = visitor.get(f"/shared/{token}")
    assert gone.status_code == 404
    assert "does not open a team report" in gone.get_data(as_text=True)
    assert gone.headers["Cache-Control"] == "no-store"
    assert _counts(session) == before


def test_forged_malformed_and_expired_links_are_404_and_write_nothing(
    app: Flask, session: Session, settings: Settings, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    share, _ = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=settings.secret_key,
        threshold=K,
    )
    session.commit()
    token = share_token(settings.secret_key, share.token_salt)
    visitor = app.test_client()
    assert visitor.get(f"/shared/{token}").status_code == 200
    before = _counts(session)
    forged = share_token("another-secret-key-that-is-long-enough", share.token_salt)
    for link in (forged, token[:-1], token + "x", "..%2F..%2Fadmin", "a" * 43):
        response = visitor.get(f"/shared/{link}")
        assert response.status_code == 404, link
        assert response.headers["Referrer-Policy"] == "no-referrer"
    share.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    before = _counts(session)
    assert visitor.get(f"/shared/{token}").status_code == 404
    assert _counts(session) == before


@pytest.mark.parametrize("size", [K - 1, K])
def test_the_shared_page_hides_what_the_rules_hide(
    app: Flask, session: Session, settings: Settings, make_user: Callable[..., Person], size: int
) -> None:
    world = build_world(session, target_size=size)
    leader = make_user("lead@example.org", role="leader", team="D1")
    share, _ = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=settings.secret_key,
        threshold=K,
    )
    session.commit()
    html = app.test_client().get(f"/shared/{share_token(settings.secret_key, share.token_salt)}")
    text = _text(html.get_data(as_text=True))
    assert COMMENT not in text
    if size < K:
        assert text.count(f"Fewer than {K} responses") >= 3
        assert not re.search(r"\d\.\d 95% interval|\d, \d+ people|\d answers", text)
        assert f"{size} of" not in text
    else:
        assert len(re.findall(rf"\d\.\d 95% interval \d\.\d to \d\.\d, {K} people", text)) == 3
        assert "Strongly agree:" in text


def test_the_shared_page_is_rate_limited(
    session: Session, settings: Settings, redis_server: EmbeddedRedis
) -> None:
    app = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": True})
    try:
        visitor = app.test_client()
        statuses = [visitor.get(f"/shared/{'b' * 43}").status_code for _ in range(31)]
        assert statuses[:30] == [404] * 30
        assert statuses[30] == 429
    finally:
        redis.Redis(unix_socket_path=str(redis_server.socket)).flushall()
        app.extensions["pulse.db"][0].dispose()


def test_the_token_never_reaches_the_request_log(
    app: Flask,
    session: Session,
    settings: Settings,
    make_user: Callable[..., Person],
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    share, _ = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=settings.secret_key,
        threshold=K,
    )
    session.commit()
    token = share_token(settings.secret_key, share.token_salt)
    with (
        caplog.at_level("INFO"),
        live_server(app) as base,
        urllib.request.urlopen(f"{base}/shared/{token}", timeout=30) as page,
    ):
        assert page.status == 200
    assert "/shared/[token]" in caplog.text
    assert token not in caplog.text


def test_a_leader_cannot_share_or_stop_a_team_outside_their_scope(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    make_user("other@example.org", role="leader", team="D2")
    sign_in(client, "other@example.org")
    before = _counts(session)
    assert client.post(world.url(suffix="/share")).status_code == 404
    assert client.post(world.url(suffix="/share/stop")).status_code == 404
    assert _counts(session) == before


def test_share_and_stop_need_the_form_csrf_token(
    session: Session, settings: Settings, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    make_user("lead@example.org", role="leader", team="D1")
    app = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": False})
    try:
        client = app.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        sign_in = {"email": "lead@example.org", "password": PASSWORD, "csrf_token": token}
        assert client.post("/sign-in", data=sign_in).status_code == 302
        before = _counts(session)
        assert client.post(world.url(suffix="/share")).status_code == 400
        assert client.post(world.url(suffix="/share/stop")).status_code == 400
        assert _counts(session) == before
        report = client.get(world.url()).get_data(as_text=True)
        form_token = report.split('name="csrf_token" value="')[1].split('"')[0]
        shared = client.post(world.url(suffix="/share"), data={"csrf_token": form_token})
        assert shared.status_code == 302
        assert _counts(session)[:2] == (1, K + 2)
    finally:
        app.extensions["pulse.db"][0].dispose()
