"""Webhooks end to end: a real receiver, a real Celery worker, retries and a killed worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from pulse.config import Settings
from pulse.surveys.scheduler import tick
from pulse.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from pulse.webhooks.service import deliver, owe_event, register_endpoint
from tests.conftest import sign_in
from tests.pulse.test_reporting_aggregation import make_cycle
from tests.support.webhook_receiver import Received, webhook_receiver
from worker.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


def verified(endpoint: WebhookEndpoint, request: Received) -> dict[str, object]:
    """The payload, after checking its Standard Webhooks signature with the reference library."""
    payload: dict[str, object] = Webhook(endpoint.secret).verify(request.body, request.headers)
    return payload


def _owe(session: Session, url: str, subject: str = "cycle:1") -> tuple[WebhookEndpoint, int]:
    endpoint = register_endpoint(session, actor=None, url=url, events=["cycle.opened"])
    [delivery_id] = owe_event(
        session, event="cycle.opened", subject=subject, data={"cycle_id": 1}, now=NOW
    )
    session.commit()
    return endpoint, delivery_id


def test_a_closing_tick_owes_cycle_closed_once_per_endpoint(session: Session) -> None:
    endpoint = register_endpoint(
        session, actor=None, url="http://127.0.0.1:9/x", events=["cycle.closed"]
    )
    other = register_endpoint(
        session, actor=None, url="http://127.0.0.1:9/y", events=["cycle.opened"]
    )
    cycle = make_cycle(session, closed=False)
    session.commit()
    after = cycle.closes_at + timedelta(minutes=1)
    first = tick(session, now=after)
    second = tick(session, now=after + timedelta(minutes=1))
    session.commit()
    assert first.closed_cycle_ids == [cycle.id] and len(first.webhook_delivery_ids) == 1
    assert second.webhook_delivery_ids == []
    delivery = session.get(WebhookDelivery, first.webhook_delivery_ids[0])
    assert delivery is not None and delivery.endpoint_id == endpoint.id != other.id
    assert delivery.payload["type"] == "cycle.closed"
    assert delivery.payload["data"]["cycle_id"] == cycle.id  # type: ignore[index]
    # Nothing but the cycle: no figure travels in a webhook.
    assert set(delivery.payload["data"]) == {"cycle_id", "schedule_id", "opens_at", "closes_at"}  # type: ignore[arg-type]


def test_signed_per_standard_webhooks_and_410_disables(session: Session) -> None:
    with webhook_receiver([410]) as receiver:
        endpoint, delivery_id = _owe(session, receiver.url)
        outcome = deliver(session, delivery_id=delivery_id)
        session.commit()
    assert not outcome.delivered and not outcome.retry
    request = receiver.requests[0]
    assert verified(endpoint, request) == {
        "type": "cycle.opened",
        "timestamp": NOW.isoformat(),
        "data": {"cycle_id": 1},
    }
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["webhook-signature"].startswith("v1,")
    session.refresh(endpoint)
    assert endpoint.active is False


@pytest.fixture
def fast_worker(app: Flask) -> Iterator[Celery]:
    app.config["PULSE_WEBHOOK_BACKOFF"] = (0.2, 0.2, 0.2)
    celery: Celery = app.extensions["celery"]
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield celery


def test_retries_with_backoff_keep_one_webhook_id(
    app: Flask, session: Session, fast_worker: Celery, client: FlaskClient, make_user: object
) -> None:
    with webhook_receiver([500, 503]) as receiver:
        endpoint, delivery_id = _owe(session, receiver.url)
        fast_worker.send_task("worker.webhooks.deliver", args=[delivery_id])
        assert receiver.wait_for(3, timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            session.expire_all()
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is not None and delivery.status == "delivered":
                break
            time.sleep(0.1)
    assert delivery is not None and delivery.status == "delivered" and delivery.attempts == 3
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert ids == {delivery.message_id}
    for request in receiver.requests:
        assert verified(endpoint, request)["type"] == "cycle.opened"
    codes = [
        a.status_code for a in session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))
    ]
    assert codes == [500, 503, 200]
    # The endpoint's page shows admins its last attempts, newest first.
    make_user("admin@example.org")  # type: ignore[operator]
    sign_in(client, "admin@example.org")
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert page.index(">200<") < page.index(">503<") < page.index(">500<")
    assert delivery.message_id in page and endpoint.secret in page


def test_admin_registers_an_endpoint(app: Flask, client: FlaskClient, make_user: object) -> None:
    make_user("admin@example.org")  # type: ignore[operator]
    sign_in(client, "admin@example.org")
    bad = client.post("/admin/webhooks", data={"url": "ftp://x", "events": ["cycle.opened"]})
    assert bad.status_code == 422
    made = client.post(
        "/admin/webhooks",
        data={"url": "https://example.org/hook", "events": ["cycle.opened", "results.ready"]},
    )
    assert made.status_code == 302
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert "https://example.org/hook" in listing and "cycle.opened, results.ready" in listing


def _start_worker(settings: Settings, redis_server: EmbeddedRedis) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": settings.database_url,
        "PULSE_REDIS_URL": redis_server.url,
        "PULSE_SECRET_KEY": "test-secret-key-that-is-long-enough-123",
        "PULSE_BASE_URL": "http://127.0.0.1:5000",
        "PULSE_MAIL_BACKEND": "outbox",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "tests.support.webhook_worker:celery", "worker",
        "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
        "--loglevel", "INFO",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("WEBHOOK_WORKER_LOG", os.devnull), "ab"),
        start_new_session=True,
    )


def test_a_worker_killed_mid_delivery_delivers_later_with_the_same_id(
    app: Flask, session: Session, settings: Settings, redis_server: EmbeddedRedis
) -> None:
    celery: Celery = app.extensions["celery"]
    with webhook_receiver(hold_first=True) as receiver:
        endpoint, delivery_id = _owe(session, receiver.url)
        first = _start_worker(settings, redis_server)
        try:
            celery.send_task("worker.webhooks.deliver", args=[delivery_id])
            assert receiver.wait_for(1, timeout=60), "the first worker never posted"
            # Killed while the receiver holds the request: no answer, no acknowledgement.
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                os.kill(first.pid, signal.SIGKILL)
        receiver.release.set()
        second = _start_worker(settings, redis_server)
        try:
            assert receiver.wait_for(2, timeout=90), "the task never came back"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                session.expire_all()
                delivery = session.get(WebhookDelivery, delivery_id)
                if delivery is not None and delivery.status == "delivered":
                    break
                time.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(second.pid, signal.SIGKILL)
    assert delivery is not None and delivery.status == "delivered"
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(ids) >= 2 and set(ids) == {delivery.message_id}
    assert json.loads(receiver.requests[-1].body)["type"] == "cycle.opened"
    assert verified(endpoint, receiver.requests[-1])


def test_an_early_copy_of_a_retry_sends_nothing(session: Session) -> None:
    with webhook_receiver([500]) as receiver:
        _, delivery_id = _owe(session, receiver.url)
        first = deliver(session, delivery_id=delivery_id, now=NOW)
        session.commit()
        assert first.retry_in == 5
        # Redis hands a waiting task back after its visibility timeout: too early, a no-op.
        early = deliver(session, delivery_id=delivery_id, now=NOW + timedelta(seconds=2))
        due = deliver(session, delivery_id=delivery_id, now=NOW + timedelta(seconds=5))
        session.commit()
    assert not early.delivered and early.retry_in is None
    assert due.delivered
    assert len(receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
