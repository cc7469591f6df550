"""The app's connection pool keeps a connection for each thread that uses it at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from tests.conftest import make_settings
from webapp import create_app
from webapp.extensions import db
from worker.embedded_redis import EmbeddedRedis


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(("pool_size", "opened_again"), [(8, 0), (5, 3)])
def test_a_pool_as_large_as_the_threads_reuses_every_connection(
    database_url: str, redis_server: EmbeddedRedis, pool_size: int, opened_again: int
) -> None:
    """Eight threads (gunicorn's --threads 8) each hold a session at once, twice over. With
    PULSE_DB_POOL_SIZE=8 the second time opens no connection; with 5, the three connections
    beyond the pool were closed after use and are opened again."""
    threads = 8
    settings = make_settings(database_url, redis_server.url, PULSE_DB_POOL_SIZE=str(pool_size))
    app = create_app({"PULSE": settings, "TESTING": True})
    engine = db.engine_for(app)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, record: opened.append(connection))
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def hold_a_session() -> None:
        try:
            with app.app_context():
                db.session.execute(text("SELECT 1"))
                barrier.wait(timeout=30)  # every thread holds its connection here
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    def everyone_at_once() -> int:
        before = len(opened)
        workers = [threading.Thread(target=hold_a_session) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not failures
        return len(opened) - before

    try:
        assert everyone_at_once() == threads
        assert everyone_at_once() == opened_again
        assert engine.pool.checkedin() == pool_size  # type: ignore[attr-defined]
    finally:
        engine.dispose()
