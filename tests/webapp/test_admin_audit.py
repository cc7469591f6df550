"""The audit log page: filters, paging, and no way to change the log from the web."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.people.models import Person
from tests.conftest import sign_in


def seed(session: Session) -> None:
    session.add_all(
        [
            AuditEvent(
                at=datetime(2026, 1, 5, 9, tzinfo=UTC),
                actor_email="ann@example.org",
                action="people.import",
                target="january.csv",
            ),
            AuditEvent(
                at=datetime(2026, 2, 5, 9, tzinfo=UTC),
                actor_email="bob@example.org",
                action="settings.update",
                target="organisation",
            ),
            AuditEvent(
                at=datetime(2026, 3, 5, 23, 59, tzinfo=UTC),
                actor_email="ann@example.org",
                action="team.rename",
                target="Web",
            ),
        ]
    )
    session.commit()


def test_filter_by_actor_action_and_dates(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    seed(session)
    everything = client.get("/admin/audit").get_data(as_text=True)
    assert "january.csv" in everything and "admin.sign_in" in everything
    by_actor = client.get("/admin/audit?actor=ANN").get_data(as_text=True)
    assert "january.csv" in by_actor and "Web" in by_actor and "organisation" not in by_actor
    by_action = client.get("/admin/audit?action=settings.update").get_data(as_text=True)
    assert "organisation" in by_action and "january.csv" not in by_action
    by_dates = client.get("/admin/audit?since=2026-02-01&until=2026-03-05").get_data(as_text=True)
    assert "organisation" in by_dates and "Web" in by_dates and "january.csv" not in by_dates
    backwards = client.get("/admin/audit?since=2026-03-01&until=2026-02-01")
    assert backwards.status_code == 422
    assert "start date is after the end date" in backwards.get_data(as_text=True)
    assert client.get("/admin/audit?since=not-a-date").status_code == 422


def test_paging_keeps_filters(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    session.add_all(
        AuditEvent(actor_email="ann@example.org", action="person.update", target=f"p{i}")
        for i in range(60)
    )
    session.commit()
    first = client.get("/admin/audit?actor=ann").get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert 'href="/admin/audit?page=2&amp;actor=ann"' in first
    second = client.get("/admin/audit?actor=ann&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second


def test_the_log_is_append_only_from_the_web(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert (rule.methods or set()) <= {"GET", "HEAD", "OPTIONS"}, rule.rule
