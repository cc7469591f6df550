"""Admin settings: threshold bounds, time zone, re-aggregation queued, the test email."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.organisation.service import get_settings
from pulse.people.models import Person
from tests.conftest import make_settings, sign_in
from tests.support.smtp import SMTPServer
from tests.support.task_queue import empty_queue, queued_tasks
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture(autouse=True)
def _leave_the_queue_empty(redis_server: EmbeddedRedis) -> Iterator[None]:
    """Pages here queue real tasks; a worker started by a later test must not run them."""
    yield
    empty_queue(redis_server.url)


@pytest.fixture
def admin(client: FlaskClient, make_user: Callable[..., Person]) -> Person:
    person = make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    return person


def form(**changes: object) -> dict[str, object]:
    return {"name": "Acme", "timezone": "Europe/Paris", "threshold": 5, **changes}


def test_the_page_explains_the_trade_off(client: FlaskClient, admin: Person) -> None:
    html = client.get("/admin/settings").get_data(as_text=True)
    assert "smaller k" in html and "larger k" in html and "never go below 3" in html
    assert 'value="5"' in html


@pytest.mark.parametrize("bad", [2, 11, "five"])
def test_thresholds_outside_3_to_10_are_refused(
    client: FlaskClient, session: Session, admin: Person, bad: object
) -> None:
    response = client.post("/admin/settings", data=form(threshold=bad))
    assert response.status_code == 422
    assert get_settings(session).threshold == 5
    assert (
        session.scalars(select(AuditEvent).where(AuditEvent.action == "settings.update")).all()
        == []
    )


def test_unknown_time_zone_is_refused(client: FlaskClient, session: Session, admin: Person) -> None:
    response = client.post("/admin/settings", data=form(timezone="Mars/Olympus"))
    assert response.status_code == 422
    assert "unknown time zone" in response.get_data(as_text=True)
    assert get_settings(session).timezone == "UTC"


def test_threshold_change_is_saved_audited_and_queues_reaggregation(
    client: FlaskClient, session: Session, admin: Person, redis_server: EmbeddedRedis
) -> None:
    before = queued_tasks(redis_server.url).count(("worker.aggregation.sweep", []))
    for k in (3, 10):
        response = client.post("/admin/settings", data=form(threshold=k))
        assert response.status_code == 302
        session.expire_all()
        assert get_settings(session).threshold == k
    saved = get_settings(session)
    assert (saved.name, saved.timezone) == ("Acme", "Europe/Paris")
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "settings.update").order_by(AuditEvent.id)
    ).all()
    assert events[0].detail["threshold"] == {"from": 5, "to": 3}
    assert events[1].detail == {"threshold": {"from": 3, "to": 10}}
    after = queued_tasks(redis_server.url).count(("worker.aggregation.sweep", []))
    assert after == before + 2


def test_saving_without_the_broker_still_saves(
    database_url: str, make_user: Callable[..., Person], session: Session
) -> None:
    dead = make_settings(database_url, "redis://127.0.0.1:9/0")
    app: Flask = create_app(
        {
            "PULSE": dead,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "CELERY": {"broker_connection_timeout": 1, "broker_connection_max_retries": 0},
        }
    )
    make_user("admin@example.org")
    client = app.test_client()
    sign_in(client, "admin@example.org")
    response = client.post("/admin/settings", data=form(threshold=7), follow_redirects=True)
    assert response.status_code == 200
    assert "task queue is not reachable" in response.get_data(as_text=True)
    session.expire_all()
    assert get_settings(session).threshold == 7
    app.extensions["pulse.db"][0].dispose()


def smtp_app(database_url: str, redis_url: str, smtp: SMTPServer) -> Flask:
    settings = make_settings(
        database_url,
        redis_url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_PORT=str(smtp.port),
        PULSE_SMTP_TLS="false",
    )
    return create_app(
        {"PULSE": settings, "TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}
    )


def test_test_email_goes_through_smtp_and_failures_are_shown(
    database_url: str,
    redis_server: EmbeddedRedis,
    smtp_server: SMTPServer,
    make_user: Callable[..., Person],
    session: Session,
) -> None:
    app = smtp_app(database_url, redis_server.url, smtp_server)
    make_user("admin@example.org")
    client = app.test_client()
    sign_in(client, "admin@example.org")
    ok = client.post("/admin/settings/test-email", follow_redirects=True)
    assert "A test email was sent to admin@example.org" in ok.get_data(as_text=True)
    assert smtp_server.mailbox.recipients() == ["admin@example.org"]
    smtp_server.mailbox.refuse["admin@example.org"] = (550, "mailbox unavailable")
    failed = client.post("/admin/settings/test-email", follow_redirects=True)
    html = failed.get_data(as_text=True)
    assert "The test email could not be sent: 550 mailbox unavailable" in html
    outcomes = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "settings.test_email")
    ).all()
    assert [o["ok"] for o in outcomes] == [True, False]
    app.extensions["pulse.db"][0].dispose()
