"""Liveness and readiness, and friendly error pages."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import make_settings
from webapp import create_app


def test_healthz_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_checks_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_without_redis_the_process_stays_ready_and_says_what_still_works(
    database_url: str,
) -> None:
    # Answering works without Redis (see test_submits_are_kept_when_redis_is_down): a 503
    # would take every web process out of the load balancer for a delay in background work.
    app = create_app(
        {"PULSE": make_settings(database_url, "redis://127.0.0.1:1/0"), "TESTING": True}
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["checks"] == {"database": "ok", "redis": "unreachable"}
    assert "answering" in response.json["working"]
    app.extensions["pulse.db"][0].dispose()


def test_readyz_names_an_unreachable_database(redis_server: object, tmp_path: object) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    app = create_app(
        {
            "PULSE": make_settings(url, redis_server.url),  # type: ignore[attr-defined]
            "TESTING": True,
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "unreachable"


def test_unknown_page_is_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"We could not find that page" in response.data
    assert b"Traceback" not in response.data
