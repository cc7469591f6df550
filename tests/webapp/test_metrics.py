"""/metrics: what it counts, what it reads from the database at scrape time, who may read it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.dirty import mark_dirty
from pulse.reporting.models import DirtyTeamCycle
from pulse.surveys.cycles import create_cycle
from tests.conftest import make_settings
from tests.support.delivery_org import make_org
from tests.support.prometheus import label_values, samples, value
from webapp import create_app
from webapp.metrics_collectors import SEEN_KEY, lag_seconds
from webapp.metrics_files import DRAINED_AT_KEY
from worker.embedded_redis import EmbeddedRedis
from worker.metrics import record_drain

TOKEN = "metrics-token-0123456789abcdef"
SECRET_LINK = "Zq3Rk8pWbVxNfTmL0aYcHdJe2sUoGi9tXyA4BnC7QwE"


def scrape(client: FlaskClient, **environ: str) -> str:
    response = client.get("/metrics", environ_base=environ)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


# Requests by route and status --------------------------------------------------------------


def test_request_counts_grow_by_route_and_status(client: FlaskClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    def grew(**labels: str) -> float:
        name = "pulse_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(route="/healthz", method="GET", status="200") == 3
    assert grew(route="<unmatched>", status="404") == 1


def test_a_route_label_is_the_url_rule_never_the_token(client: FlaskClient) -> None:
    client.get(f"/s/{SECRET_LINK}")
    client.post(f"/s/{SECRET_LINK}", data={"item_1": "4"})
    client.get(f"/unknown/{SECRET_LINK}")
    text = scrape(client)

    assert SECRET_LINK not in text
    assert "/s/<token>" in label_values(text, "pulse_http_requests_total", "route")
    for _name, labels, _value in samples(text):
        assert not any(SECRET_LINK in label for label in labels.values())


def test_an_odd_method_does_not_become_a_label(client: FlaskClient) -> None:
    client.open("/healthz", method="BREW")
    text = scrape(client)
    assert "BREW" not in label_values(text, "pulse_http_requests_total", "method")


def test_a_submit_is_timed_and_other_requests_are_not(client: FlaskClient) -> None:
    name = "pulse_answer_submit_seconds_count"
    before = scrape(client)
    client.get(f"/s/{SECRET_LINK}")
    response = client.post(f"/s/{SECRET_LINK}", data={"item_1": "4"})
    after = scrape(client)
    assert 400 <= response.status_code < 500  # a link that does not exist
    status = str(response.status_code)
    assert value(after, name, status=status) - value(before, name, status=status) == 1
    assert value(after, name) - value(before, name) == 1


# Read from the database at scrape time -----------------------------------------------------


@pytest.fixture
def invitations(session: Session) -> Iterator[int]:
    org = make_org(session, {"Alpha": 4, "Beta": 3})
    now = utcnow()
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key="metrics",
        sequence=0,
        program="rotating",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=2),
    )
    session.commit()
    people = session.scalars(select(Person.id).order_by(Person.id)).all()
    states = ["sent", "sent", "sent", "pending", "retry", "failed", "sending"]
    for person_id, state in zip(people, states, strict=False):
        session.add(
            Invitation(
                cycle_id=cycle.id,
                person_id=person_id,
                team_id=org.team_ids["Alpha"],
                delivery_state=state,
            )
        )
    session.commit()
    yield cycle.id


def in_database(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Invitation.delivery_state, func.count()).group_by(Invitation.delivery_state)
    ).all()
    return {str(state): int(count) for state, count in rows}


def in_scrape(text: str) -> dict[str, int]:
    return {
        labels["state"]: int(found)
        for name, labels, found in samples(text)
        if name == "pulse_invitations" and found
    }


def test_the_invitations_gauge_matches_the_database(
    client: FlaskClient, session: Session, invitations: int
) -> None:
    assert (
        in_scrape(scrape(client))
        == in_database(session)
        == {
            "sent": 3,
            "pending": 1,
            "retry": 1,
            "failed": 1,
            "sending": 1,
        }
    )
    session.execute(
        update(Invitation)
        .where(Invitation.delivery_state != "failed")
        .values(delivery_state="sent")
    )
    session.commit()
    text = scrape(client)
    assert in_scrape(text) == in_database(session) == {"sent": 6, "failed": 1}
    # A state nobody is in still has its series, at 0.
    assert value(text, "pulse_invitations", state="pending") == 0
    assert "pending" in label_values(text, "pulse_invitations", "state")


def test_no_figure_names_a_team_or_a_cycle(client: FlaskClient, invitations: int) -> None:
    # Counts by delivery state only: nothing on /metrics tells how many of a group answered.
    text = scrape(client)
    for name, labels, _value in samples(text):
        if name.startswith("pulse_"):
            assert not {"team", "team_id", "cycle", "cycle_id", "group"} & labels.keys(), name


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_aggregation_lag_reflects_a_dirty_mark(
    app: Flask, client: FlaskClient, session: Session, invitations: int, settings: Settings
) -> None:
    team_id = session.scalars(select(Invitation.team_id)).first()
    assert team_id is not None
    clock = Clock(1_000_000.0)
    app.extensions["pulse.metrics"]["aggregation"].clock = clock

    text = scrape(client)
    assert value(text, "pulse_aggregation_dirty_marks") == 0
    assert value(text, "pulse_aggregation_lag_seconds") == 0

    mark_dirty(session, team_id=team_id, cycle_id=invitations)
    session.commit()
    assert value(scrape(client), "pulse_aggregation_dirty_marks") == 1
    clock.now += 120
    assert value(scrape(client), "pulse_aggregation_lag_seconds") == 120

    # A run that started at +100 drained everything it found: what is dirty now is younger.
    record_drain(settings.redis_url, 1_000_100.0)
    clock.now += 10
    assert value(scrape(client), "pulse_aggregation_lag_seconds") == 30

    session.execute(delete(DirtyTeamCycle))
    session.commit()
    text = scrape(client)
    assert value(text, "pulse_aggregation_dirty_marks") == 0
    assert value(text, "pulse_aggregation_lag_seconds") == 0
    assert redis.Redis.from_url(settings.redis_url).hlen(SEEN_KEY) == 0


def test_the_lag_starts_at_the_first_scrape_that_sees_a_mark() -> None:
    assert lag_seconds(set(), seen={"1:1": 5.0}, drained_at=None, now=50.0) == (0.0, {})
    lag, kept = lag_seconds(
        {"1:1", "2:1"}, seen={"1:1": 5.0, "3:1": 1.0}, drained_at=None, now=50.0
    )
    assert (lag, kept) == (45.0, {"1:1": 5.0, "2:1": 50.0})
    # Marked again after a drain that started at 40: 10 s old at most, not 45.
    assert lag_seconds({"1:1"}, seen={"1:1": 5.0}, drained_at=40.0, now=50.0)[0] == 10.0


def test_without_redis_the_lag_is_still_answered(database_url: str) -> None:
    settings = make_settings(database_url, "unix:///nonexistent/redis.sock")
    app = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": False})
    try:
        text = scrape(app.test_client())
        assert value(text, "pulse_metrics_aggregation_failed") == 0
        assert value(text, "pulse_aggregation_lag_seconds") == 0
    finally:
        app.extensions["pulse.db"][0].dispose()


def test_a_failing_collector_costs_its_figures_not_the_scrape(
    app: Flask, client: FlaskClient
) -> None:
    def broken() -> Session:
        raise RuntimeError("database unreachable")

    app.extensions["pulse.metrics"]["invitations"].sessions = broken
    text = scrape(client)
    assert value(text, "pulse_metrics_invitations_failed") == 1
    assert value(text, "pulse_metrics_aggregation_failed") == 0
    assert value(text, "pulse_metrics_samples_failed") == 0
    assert "pulse_invitations" not in {name for name, _, _ in samples(text)}


def test_openmetrics_when_the_scraper_asks(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")


def test_standard_process_metrics_are_served(client: FlaskClient) -> None:
    names = {name for name, _, _ in samples(scrape(client))}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= names


# Who may read it ---------------------------------------------------------------------------


@pytest.fixture
def guarded(settings: Settings, redis_server: EmbeddedRedis) -> Iterator[FlaskClient]:
    app = create_app(
        {
            "PULSE": settings,
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
            "PULSE_METRICS_TOKEN": TOKEN,
        }
    )
    yield app.test_client()
    app.extensions["pulse.db"][0].dispose()


def test_with_a_token_set_a_scrape_needs_it(guarded: FlaskClient) -> None:
    missing = guarded.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.get_data(as_text=True)

    for header in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", "Bearer tøken"):
        wrong = guarded.get("/metrics", headers={"Authorization": header})
        assert wrong.status_code == 401, header
        assert "pulse_" not in wrong.get_data(as_text=True)

    right = guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert "pulse_http_requests_total" in right.get_data(as_text=True)
    # The token is enough from anywhere, through a proxy too.
    remote = guarded.get(
        "/metrics",
        headers={"Authorization": f"bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert remote.status_code == 200


def test_without_a_token_only_this_machine_may_scrape(client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    for address in ("10.0.0.5", "192.168.1.20", "2001:db8::1", ""):
        refused = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
        assert refused.status_code == 403, address
        assert "PULSE_METRICS_TOKEN" in refused.get_data(as_text=True)
    # A reverse proxy on this machine makes every client look local: refused.
    proxied = client.get(
        "/metrics",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert proxied.status_code == 403


def test_a_refused_scrape_changes_nothing(
    client: FlaskClient, session: Session, settings: Settings, invitations: int
) -> None:
    team_id = session.scalars(select(Invitation.team_id)).first()
    assert team_id is not None
    mark_dirty(session, team_id=team_id, cycle_id=invitations)
    session.commit()
    store = redis.Redis.from_url(settings.redis_url)
    client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert not store.exists(SEEN_KEY, DRAINED_AT_KEY)
    scrape(client)
    assert store.hlen(SEEN_KEY) == 1


def test_an_unreadable_sample_file_costs_the_samples_not_the_scrape(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_4242.db").write_bytes(b"not a sample file at all")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = scrape(client)
    assert value(text, "pulse_metrics_samples_failed") == 1
    assert "pulse_invitations" in {name for name, _, _ in samples(text)}
