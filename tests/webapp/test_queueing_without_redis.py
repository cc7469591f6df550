"""Queueing from a request when Redis is down: one connection attempt, then the submit goes on.

kombu's defaults retried the broker connection three times over about 6 s, which the first
submit of every web process waited out. The server here accepts each connection and closes
it at once (a Redis that is going away), and counts them: no clock in the assertion.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import make_settings
from webapp import create_app
from webapp.survey import queueing


class ClosingServer:
    """Accepts TCP connections on 127.0.0.1 and closes each at once, counting them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def closing_server() -> Iterator[ClosingServer]:
    server = ClosingServer()
    yield server
    server.close()


def test_a_submit_makes_one_broker_attempt_when_redis_is_going_away(
    database_url: str, closing_server: ClosingServer
) -> None:
    url = f"redis://127.0.0.1:{closing_server.port}/0"
    app = create_app({"PULSE": make_settings(database_url, url), "TESTING": True})
    queueing.reset_debounce()
    try:
        with app.app_context():
            assert queueing.queue_aggregation() is False
            # The next submits in the same process do not try again before the pause is up.
            assert queueing.queue_aggregation() is True
    finally:
        queueing.reset_debounce()
        app.extensions["pulse.db"][0].dispose()
    assert closing_server.accepted == 1
