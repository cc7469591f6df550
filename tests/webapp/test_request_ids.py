"""A request id on every response, carried into the tasks the request queues, in JSON logs."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient

from pulse.config import ConfigError, Settings
from tests.conftest import make_settings
from webapp import create_app
from webapp.request_ids import HEADER, TASK_HEADER, JSONFormatter
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture
def settings(database_url: str, redis_server: EmbeddedRedis) -> Settings:
    return make_settings(database_url, redis_server.url, PULSE_LOG_FORMAT="json")


def test_every_response_carries_an_id_and_a_sane_given_one_is_kept(client: FlaskClient) -> None:
    fresh = client.get("/healthz").headers[HEADER]
    assert len(fresh) == 32 and int(fresh, 16) >= 0
    assert client.get("/healthz", headers={HEADER: "proxy-id-1234"}).headers[HEADER] == (
        "proxy-id-1234"
    )
    odd = client.get("/healthz", headers={HEADER: "<script> or spaces"}).headers[HEADER]
    assert odd != "<script> or spaces" and len(odd) == 32


def test_a_task_queued_by_a_request_carries_its_id(app: Flask, redis_server: EmbeddedRedis) -> None:
    celery: Celery = app.extensions["celery"]
    with app.test_request_context("/s/x", method="POST", headers={HEADER: "submit-abcdef12"}):
        app.preprocess_request()
        celery.send_task("worker.aggregation.aggregate_dirty")
    (raw,) = redis.Redis.from_url(redis_server.url).lrange("celery", 0, -1)
    assert json.loads(raw)["headers"][TASK_HEADER] == "submit-abcdef12"
    redis.Redis.from_url(redis_server.url).delete("celery")


def test_the_workers_log_lines_of_that_task_bear_the_id(app: Flask) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("worker.aggregation")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    celery: Celery = app.extensions["celery"]
    try:
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            with app.test_request_context("/s/x", method="POST", headers={HEADER: "req-77777777"}):
                app.preprocess_request()
                celery.send_task("worker.aggregation.aggregate_dirty")
            deadline = time.monotonic() + 30
            while "aggregated" not in stream.getvalue() and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    done = [line for line in lines if line["message"].startswith("aggregated")]
    assert done and done[0]["request_id"] == "req-77777777"
    assert done[0]["level"] == "INFO" and done[0]["logger"] == "worker.aggregation"


def test_an_unknown_log_format_is_refused(database_url: str) -> None:
    with pytest.raises(ConfigError, match="PULSE_LOG_FORMAT"):
        make_settings(database_url, "redis://127.0.0.1:1/0", PULSE_LOG_FORMAT="xml")


def test_json_lines_from_the_app(settings: Settings, capfd: pytest.CaptureFixture[str]) -> None:
    app = create_app({"PULSE": settings, "TESTING": True})
    with app.test_request_context("/", headers={HEADER: "line-id-12345"}):
        app.preprocess_request()
        logging.getLogger("pulse.test").warning("something to see")
    err = capfd.readouterr().err
    # (A Celery test worker earlier in the session may have left a text handler of its own.)
    lines = [x for x in err.splitlines() if x.startswith("{") and "something to see" in x]
    entry = json.loads(lines[0])
    assert entry["request_id"] == "line-id-12345" and entry["level"] == "WARNING"
    app.extensions["pulse.db"][0].dispose()
