"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app
from sqlalchemy import text

from webapp.extensions import db, limiter

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz")
@limiter.exempt
def healthz() -> dict[str, Any]:
    """The process is up and serving requests."""
    return {"status": "ok"}


# What still works without Redis, for whoever reads /readyz during an outage: answers are
# saved (their aggregation is caught up by the sweep), sign-in works (the rate limiter lets
# requests through), the dashboard reads the database. What waits: queued work.
WITHOUT_REDIS = {
    "working": ["answering", "sign-in", "dashboard", "admin pages"],
    "delayed": ["live aggregation (until the sweep)", "sending queued by the admin pages"],
}


@blueprint.route("/readyz")
@limiter.exempt
def readyz() -> tuple[dict[str, Any], int]:
    """Whether this process can serve: 503 only when the database is unreachable.

    Without the database nothing works, so the load balancer should route elsewhere. Without
    Redis the pages still work (see WITHOUT_REDIS): taking every web process out of service
    then would turn a delay in background work into an outage of answering, so the answer is
    200 with the status "degraded", and the checks name what is missing.
    """
    checks: dict[str, str] = {}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        current_app.logger.warning("readiness: database unreachable: %s", exc)
        checks["database"] = "unreachable"
    try:
        client = redis.Redis.from_url(
            current_app.config["PULSE"].redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
        client.close()
        checks["redis"] = "ok"
    except Exception as exc:
        current_app.logger.warning("readiness: redis unreachable: %s", exc)
        checks["redis"] = "unreachable"
    if checks["database"] != "ok":
        return {"status": "not ready", "checks": checks}, 503
    if checks["redis"] != "ok":
        return {"status": "degraded", "checks": checks, **WITHOUT_REDIS}, 200
    return {"status": "ready", "checks": checks}, 200
