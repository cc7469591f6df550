"""Admin settings: thresholds by kind, time zone, re-aggregation queued, the test email."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.organisation.models import OrgSetting
from pulse.organisation.service import Thresholds, get_settings
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
    return {
        "name": "Acme",
        "timezone": "Europe/Paris",
        "threshold": 5,
        "threshold_participation": 5,
        "threshold_comments": 7,
        **changes,
    }


def audit_events(session: Session) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == "settings.update").order_by(AuditEvent.id)
        )
    )


def sweeps(redis_server: EmbeddedRedis) -> int:
    return queued_tasks(redis_server.url).count(("worker.aggregation.sweep", []))


def test_the_page_explains_the_trade_off(client: FlaskClient, admin: Person) -> None:
    html = client.get("/admin/settings").get_data(as_text=True)
    assert "smaller k" in html and "larger k" in html and "never go below 3" in html
    assert 'value="5"' in html


def test_the_page_shows_each_kind_of_threshold_and_when_changes_apply(
    client: FlaskClient, admin: Person
) -> None:
    html = client.get("/admin/settings").get_data(as_text=True)
    for name, value in (
        ("threshold", 5),
        ("threshold_participation", 5),
        ("threshold_comments", 7),
    ):
        assert f'name="{name}"' in html
        assert re.search(rf'id="{name}"[^>]*value="{value}"|value="{value}"[^>]*id="{name}"', html)
        assert f'id="{name}-help"' in html
    assert "Scores: fewest people who answered" in html
    assert "Participation: fewest people invited" in html
    assert "Comments: fewest people who answered" in html
    assert "never lower than the scores threshold" in html
    assert "applies at once" in html and "only to cycles that open afterwards" in html


@pytest.mark.parametrize("field", ["threshold", "threshold_participation", "threshold_comments"])
@pytest.mark.parametrize("bad", [2, 11, "five"])
def test_thresholds_outside_3_to_10_are_refused(
    client: FlaskClient,
    session: Session,
    admin: Person,
    redis_server: EmbeddedRedis,
    field: str,
    bad: object,
) -> None:
    before = sweeps(redis_server)
    response = client.post("/admin/settings", data=form(**{field: bad}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.count("Enter a whole number from 3 to 10.") == 1
    assert get_settings(session).thresholds == Thresholds(5, 5, 7)
    assert session.scalars(select(OrgSetting)).all() == []
    assert audit_events(session) == []
    assert sweeps(redis_server) == before


def test_comments_below_scores_are_refused_and_nothing_changes(
    client: FlaskClient, session: Session, admin: Person, redis_server: EmbeddedRedis
) -> None:
    before = sweeps(redis_server)
    response = client.post(
        "/admin/settings",
        data=form(name="Renamed", threshold=6, threshold_participation=8, threshold_comments=5),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "threshold for comments (5) must be at least the threshold for scores (6)" in html
    assert 'value="Renamed"' in html  # the form comes back as typed
    session.expire_all()
    assert session.scalars(select(OrgSetting)).all() == []
    assert get_settings(session).name == "Our organisation"
    assert audit_events(session) == []
    assert sweeps(redis_server) == before


def test_all_three_thresholds_are_saved_audited_and_queue_reaggregation(
    client: FlaskClient, session: Session, admin: Person, redis_server: EmbeddedRedis
) -> None:
    before = sweeps(redis_server)
    response = client.post(
        "/admin/settings",
        data=form(threshold=4, threshold_participation=9, threshold_comments=8),
    )
    assert response.status_code == 302
    session.expire_all()
    assert get_settings(session).thresholds == Thresholds(scores=4, participation=9, comments=8)
    (event,) = audit_events(session)
    assert event.detail["threshold"] == {"from": 5, "to": 4}
    assert event.detail["threshold_participation"] == {"from": 5, "to": 9}
    assert event.detail["threshold_comments"] == {"from": 7, "to": 8}
    assert sweeps(redis_server) == before + 1
    html = client.get("/admin/settings").get_data(as_text=True)
    assert re.search(r'id="threshold_participation"[^>]*value="9"', html)


@pytest.mark.parametrize(
    "change", [{"threshold_participation": 6}, {"threshold_comments": 9}, {"threshold": 6}]
)
def test_any_threshold_change_alone_queues_reaggregation(
    client: FlaskClient,
    session: Session,
    admin: Person,
    redis_server: EmbeddedRedis,
    change: dict[str, int],
) -> None:
    client.post("/admin/settings", data=form())  # store the form's values first
    before = sweeps(redis_server)
    response = client.post("/admin/settings", data=form(**change))
    assert response.status_code == 302
    ((name, value),) = change.items()
    assert audit_events(session)[-1].detail == {name: {"from": form()[name], "to": value}}
    assert sweeps(redis_server) == before + 1
    client.post("/admin/settings", data=form(**change))  # nothing changed: nothing queued
    assert sweeps(redis_server) == before + 1


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
        # Comments may never be below scores: raising scores to 10 raises comments with it.
        data = form(threshold=k, threshold_comments=max(7, k))
        response = client.post("/admin/settings", data=data)
        assert response.status_code == 302
        session.expire_all()
        assert get_settings(session).threshold == k
    saved = get_settings(session)
    assert (saved.name, saved.timezone) == ("Acme", "Europe/Paris")
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "settings.update").order_by(AuditEvent.id)
    ).all()
    assert events[0].detail["threshold"] == {"from": 5, "to": 3}
    assert events[1].detail == {
        "threshold": {"from": 3, "to": 10},
        "threshold_comments": {"from": 7, "to": 10},
    }
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
