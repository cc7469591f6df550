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


@blueprint.route("/readyz")
@limiter.exempt
def readyz() -> tuple[dict[str, Any], int]:
    """The database and Redis both answer; 503 names whichever does not."""
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
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
