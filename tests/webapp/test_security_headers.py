"""Security headers on every kind of response; HSTS only in production."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from pulse.people.models import Person
from tests.conftest import make_settings, sign_in
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis


@pytest.mark.parametrize(
    "path", ["/sign-in", "/healthz", "/no/such/page", "/static/session.js", "/dashboard/"]
)
def test_every_response_carries_the_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'self'" in policy
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers


def test_the_dashboard_page_inline_scripts_are_all_allowed_by_hash(
    client: FlaskClient, make_user: Callable[..., Person]
) -> None:
    make_user("ada@example.org", role="admin")
    sign_in(client, "ada@example.org")
    page = client.get("/dashboard/")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert policy.count("'sha256-") >= 1


def test_hsts_in_production_only(database_url: str, redis_server: EmbeddedRedis) -> None:
    settings = make_settings(
        database_url,
        redis_server.url,
        PULSE_ENV="production",
        PULSE_SECRET_KEY="a-production-secret-that-is-long-enough-1234567",
        PULSE_MAIL_BACKEND="smtp",
    )
    app = create_app({"PULSE": settings, "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    app.extensions["pulse.db"][0].dispose()
