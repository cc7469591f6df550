"""Registering endpoints, owing them events, and delivering one attempt at a time.

Deliveries follow the Standard Webhooks specification: a JSON body {type, timestamp, data},
and the headers webhook-id (the same on every attempt of a delivery), webhook-timestamp and
webhook-signature (HMAC-SHA256 of "id.timestamp.body" under the endpoint's whsec_ secret).
Retrying is the caller's (the Celery task's): `deliver` makes one attempt and says whether
another is worth it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.people.models import Person
from pulse.webhooks.models import EVENTS, WebhookAttempt, WebhookDelivery, WebhookEndpoint

TIMEOUT_SECONDS = 10
# Standard Webhooks' suggested schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
BACKOFF_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000)
USER_AGENT = "TeamPulse-Webhooks/1"
# A task may run this much before its retry is due (clocks and countdowns are not exact).
EARLY = timedelta(seconds=1)


@dataclass(frozen=True)
class HttpResult:
    """What one POST gave: a status code, or the error that kept it from getting one."""

    status_code: int | None
    error: str | None


Sender = Callable[[str, bytes, dict[str, str]], HttpResult]


def post_json(url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    """POST with the standard library; any status is a result, not an exception."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return HttpResult(response.status, None)
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code, None)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return HttpResult(None, f"{type(exc).__name__}: {exc}"[:300])


def new_secret() -> str:
    """A signing secret in the whsec_ form Standard Webhooks libraries read."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_url(url: str) -> str:
    """An absolute http(s) URL, or ValueError."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(url) > 2000:
        raise ValueError("give an absolute http:// or https:// URL")
    return url


def register_endpoint(
    session: Session, *, actor: Person | None, url: str, events: Collection[str]
) -> WebhookEndpoint:
    """A new endpoint for these events, with a fresh signing secret."""
    chosen = [event for event in EVENTS if event in set(events)]
    unknown = set(events) - set(EVENTS)
    if unknown or not chosen:
        raise ValueError(f"choose events among {', '.join(EVENTS)}")
    endpoint = WebhookEndpoint(url=check_url(url), events=chosen, secret=new_secret())
    session.add(endpoint)
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.register",
        target=endpoint.url[:200],
        detail={"endpoint_id": endpoint.id, "events": chosen},
    )
    return endpoint


def remove_endpoint(session: Session, *, actor: Person | None, endpoint_id: int) -> None:
    """Delete an endpoint with its deliveries and attempts."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise ValueError("no such webhook endpoint")
    record(
        session,
        actor=actor,
        action="webhook.remove",
        target=endpoint.url[:200],
        detail={"endpoint_id": endpoint_id},
    )
    session.delete(endpoint)


def owe_event(
    session: Session, *, event: str, subject: str, data: dict[str, Any], now: datetime
) -> list[int]:
    """Record a delivery of `event` for each active endpoint that wants it; returns their ids.

    `subject` names what the event is about ("cycle:12"): an event about the same subject is
    owed once per endpoint however often it is raised (a doubled tick, a retried task).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    key = f"{event}:{subject}"[:100]
    owed = []
    for endpoint in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
    ):
        if event not in endpoint.events:
            continue
        exists = session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_key == key
            )
        )
        if exists is not None:
            continue
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id,
            message_id=f"msg_{uuid.uuid4().hex}",
            event=event,
            event_key=key,
            payload={"type": event, "timestamp": now.isoformat(), "data": data},
        )
        session.add(delivery)
        session.flush()
        owed.append(delivery.id)
    return owed


def stranded_deliveries(session: Session, *, before: datetime) -> list[int]:
    """Deliveries owed before `before` and never attempted: their task was lost (Redis down
    at the commit, say), so a sweep queues them again. Ones in retry are left to their task."""
    query = select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending",
        WebhookDelivery.attempts == 0,
        WebhookDelivery.created_at < before,
    )
    return list(session.scalars(query.order_by(WebhookDelivery.id)))


def signed_request(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an attempt: same webhook-id, this attempt's timestamp."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    signature = Webhook(endpoint.secret).sign(delivery.message_id, now, body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


@dataclass(frozen=True)
class Outcome:
    """After an attempt: whether it is delivered, and in how many seconds to try again."""

    delivered: bool
    retry_in: float | None = None

    @property
    def retry(self) -> bool:
        return self.retry_in is not None


def deliver(
    session: Session,
    *,
    delivery_id: int,
    backoff: Sequence[float] = BACKOFF_SECONDS,
    send: Sender = post_json,
    now: datetime | None = None,
) -> Outcome:
    """Make one attempt at a delivery and record it; the caller commits.

    A delivery already done, or whose retry is not due yet (a redelivered copy of its task),
    is not sent. A 2xx answer delivers; anything else is retried after the next `backoff`
    delay until they run out, except 410 Gone, which disables the endpoint as the
    specification suggests.
    """
    now = now or utcnow()
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return Outcome(delivered=delivery is not None and delivery.status == "delivered")
    if delivery.next_attempt_at is not None and now < delivery.next_attempt_at - EARLY:
        return Outcome(delivered=False)
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        delivery.status = "failed"
        return Outcome(delivered=False)
    body, headers = signed_request(delivery, endpoint, now)
    started = time.monotonic()
    result = send(endpoint.url, body, headers)
    elapsed = int((time.monotonic() - started) * 1000)
    delivery.attempts += 1
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=result.status_code,
            error=result.error,
            duration_ms=elapsed,
        )
    )
    code = result.status_code
    if code is not None and 200 <= code < 300:
        delivery.status = "delivered"
        delivery.delivered_at = now
        return Outcome(delivered=True)
    if code == 410:
        endpoint.active = False
        delivery.status = "failed"
        return Outcome(delivered=False)
    if delivery.attempts > len(backoff):
        delivery.status = "failed"
        return Outcome(delivered=False)
    delay = float(backoff[delivery.attempts - 1])
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    return Outcome(delivered=False, retry_in=delay)


@dataclass(frozen=True)
class AttemptRow:
    """An attempt as the admin page lists it."""

    event: str
    message_id: str
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    delivery_status: str


def last_attempts(session: Session, *, endpoint_id: int, limit: int = 20) -> list[AttemptRow]:
    """The endpoint's latest attempts, newest first."""
    query = (
        select(
            WebhookDelivery.event,
            WebhookDelivery.message_id,
            WebhookAttempt.attempted_at,
            WebhookAttempt.status_code,
            WebhookAttempt.error,
            WebhookAttempt.duration_ms,
            WebhookDelivery.status,
        )
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.attempted_at.desc(), WebhookAttempt.id.desc())
        .limit(limit)
    )
    return [AttemptRow(*row) for row in session.execute(query)]


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
