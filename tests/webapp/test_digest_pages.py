"""The digest opt-out: the account setting, and the one-click unsubscribe link of a real email."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.config import Settings
from pulse.delivery.digest_models import DigestPreference
from pulse.delivery.digest_prefs import unsubscribe_token, wants_digest
from pulse.people.models import Person
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.conftest import PASSWORD, make_settings, sign_in
from tests.pulse.test_digest import _answers, _closed_cycles, _finalise, _send
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.support.digest_mail import unsubscribe_link
from tests.support.smtp import SMTPServer
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture
def settings(database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer) -> Settings:
    """The app sends through the real SMTP server, and builds links on a public address."""
    return make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_HOST="127.0.0.1",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
        PULSE_BASE_URL="https://pulse.example.org",
    )


@pytest.fixture
def csrf_client(settings: Settings) -> Iterator[FlaskClient]:
    """A client of the app as it runs: CSRF checks on."""
    app = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": False})
    yield app.test_client()
    app.extensions["pulse.db"][0].dispose()


@pytest.fixture
def closed(session: Session, make_user) -> tuple[Cycle, Person]:  # type: ignore[no-untyped-def]
    teams = make_tree(session, {"Crew": ("Ops", 0)})
    (cycle,) = _closed_cycles(session, 1)
    _answers(session, cycle, teams["Crew"], 6, 3)
    _finalise(session)
    leader = make_user("crew.lead@example.org", role="leader", team="Crew")
    return cycle, leader


def _next_cycle(session: Session, cycle: Cycle) -> Cycle:
    """Another closed, finalised cycle of the same schedule and team."""
    later = make_cycle(session, sequence=1, schedule=cycle.schedule_id)
    crew = session.scalar(select(Team).where(Team.name == "Crew"))
    assert crew is not None
    _answers(session, later, crew, 6, 3)
    _finalise(session)
    return later


def _path(url: str) -> str:
    return url.removeprefix("https://pulse.example.org")


def _opt_outs(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(DigestPreference)) or 0


def _audit(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_the_emailed_link_unsubscribes_without_sign_in(
    session: Session,
    csrf_client: FlaskClient,
    settings: Settings,
    smtp_server: SMTPServer,
    closed: tuple[Cycle, Person],
) -> None:
    cycle, leader = closed
    assert _send(session, settings, cycle)["sent"] == 1
    (message,) = smtp_server.mailbox.messages
    url, _ = unsubscribe_link(message)
    # A GET (a mail scanner, a preview) only asks.
    page = csrf_client.get(_path(url))
    assert page.status_code == 200 and b"Stop results emails?" in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]
    assert _opt_outs(session) == 0
    # The mail client's one-click POST (RFC 8058): no cookie, no CSRF token.
    done = csrf_client.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"not get results emails any more" in done.data
    assert not wants_digest(session, person_id=leader.id)
    # Pressing it again changes nothing and still says so.
    assert csrf_client.post(_path(url)).status_code == 200
    assert _opt_outs(session) == 1
    # The next cycle's digest leaves them out.
    later = _next_cycle(session, cycle)
    assert _send(session, settings, later)["sent"] == 0
    assert len(smtp_server.mailbox.messages) == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda secret, pid: unsubscribe_token("another-secret-of-enough-length-000", person_id=pid),
        lambda secret, pid: URLSafeSerializer(secret).dumps(pid),  # not salted for digests
        lambda secret, pid: unsubscribe_token(secret, person_id=pid)[:-2] + "xx",
        lambda secret, pid: unsubscribe_token(secret, person_id=pid + 1000),  # nobody
        lambda secret, pid: "x" * 500,
        lambda secret, pid: URLSafeSerializer(secret, salt="x").dumps(pid),
        lambda secret, pid: unsubscribe_token(secret, person_id=2**40),  # no such id fits
    ],
    ids=["other-secret", "other-salt", "tampered", "unknown-person", "too-long", "salt", "huge"],
)
def test_a_forged_token_is_refused_and_changes_nothing(
    session: Session,
    csrf_client: FlaskClient,
    settings: Settings,
    closed: tuple[Cycle, Person],
    forge,  # type: ignore[no-untyped-def]
) -> None:
    _, leader = closed
    token = forge(settings.secret_key, leader.id)
    before = _audit(session)
    for method in (csrf_client.get, csrf_client.post):
        response = method(f"/digest/unsubscribe/{token}")
        assert response.status_code == 404
        assert b"This link is not valid." in response.data
    assert _opt_outs(session) == 0 and _audit(session) == before
    assert wants_digest(session, person_id=leader.id)


def test_the_account_page_turns_the_digest_off_and_on(
    session: Session,
    app: Flask,
    client: FlaskClient,
    settings: Settings,
    smtp_server: SMTPServer,
    closed: tuple[Cycle, Person],
) -> None:
    cycle, leader = closed
    sign_in(client, leader.email, PASSWORD)
    assert b"Results emails" in client.get("/account").data
    page = client.get("/account/email")
    assert page.status_code == 200 and b"checked" in page.data
    # An unchecked box is absent from the form: that means "off".
    saved = client.post("/account/email", data={}, follow_redirects=True)
    assert saved.status_code == 200 and b"not get results emails" in saved.data
    assert not wants_digest(session, person_id=leader.id)
    assert _send(session, settings, cycle)["sent"] == 0
    assert smtp_server.mailbox.messages == []
    client.post("/account/email", data={"wanted": "y"})
    session.expire_all()
    assert wants_digest(session, person_id=leader.id)
    assert _send(session, settings, cycle)["sent"] == 1
    assert smtp_server.mailbox.recipients() == [leader.email]


def test_the_setting_needs_sign_in_and_a_csrf_token(
    session: Session, csrf_client: FlaskClient, closed: tuple[Cycle, Person]
) -> None:
    _, leader = closed
    assert csrf_client.get("/account/email").status_code == 302
    form = csrf_client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form)
    assert token is not None
    signed_in = csrf_client.post(
        "/sign-in",
        data={"email": leader.email, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert signed_in.status_code == 302
    assert csrf_client.get("/account/email").status_code == 200
    refused = csrf_client.post("/account/email", data={})
    assert refused.status_code == 400
    assert _opt_outs(session) == 0
