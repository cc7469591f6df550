"""Fixtures shared by the web app's tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from pulse.people.models import Person
from tests.conftest import make_settings
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture
def limited(
    database_url: str, redis_server: EmbeddedRedis, make_user: Callable[..., Person]
) -> Iterator[Flask]:
    """An app with rate limits on, in a key space of its own."""
    # After make_user's app (rate limits off): the limiter follows the app made last.
    app = create_app(
        {
            "PULSE": make_settings(database_url, redis_server.url),
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    )
    yield app
    app.extensions["pulse.db"][0].dispose()
