"""With the broker down, one submit pays for finding out; the next ones do not wait on it."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import make_settings
from webapp import create_app
from webapp.survey.queueing import queue_aggregation, reset_debounce


def test_an_unreachable_broker_is_not_retried_on_every_submit(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(
        {"PULSE": make_settings(database_url, "redis://127.0.0.1:1/0"), "TESTING": True}
    )
    reset_debounce()
    with caplog.at_level(logging.WARNING, logger="webapp.survey.queueing"), app.app_context():
        assert queue_aggregation() is False
        assert queue_aggregation() is True  # inside the pause: nothing attempted
        assert queue_aggregation() is True
    failures = [r for r in caplog.records if "could not queue" in r.getMessage()]
    assert len(failures) == 1
    reset_debounce()
    app.extensions["pulse.db"][0].dispose()
