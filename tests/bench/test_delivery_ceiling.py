"""The submit bench's same-writes ceiling stores what a first submit through the app stores."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import pytest
from sqlalchemy import text

from bench.bench_delivery import issue_tokens, prepare
from pulse.db import make_engine
from pulse.delivery.tokens import revision_key
from tests.conftest import make_settings
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _stored(database_url: str, key: str) -> tuple[Any, ...]:
    """What a submit left for the link whose revision key is `key`."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        response_id, *response = connection.execute(
            text(
                "SELECT id, cycle_id, team_id, submitted_on FROM responses WHERE revision_key = :k"
            ),
            {"k": key},
        ).one()
        answers = connection.execute(
            text("SELECT item_id, value FROM answers WHERE response_id = :r ORDER BY item_id"),
            {"r": response_id},
        ).all()
        others = connection.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM comments), (SELECT COUNT(*) FROM action_feedback), "
                "(SELECT COUNT(*) FROM invitations WHERE answered)"
            )
        ).one()
        dirty = connection.execute(text("SELECT team_id, cycle_id FROM dirty_team_cycles")).all()
    engine.dispose()
    return tuple(response), answers, tuple(others), dirty


@BOTH
def test_the_same_writes_ceiling_stores_what_a_first_submit_stores(
    database_url: str, redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_ITEM_IDS", "")  # issue_tokens sets it: restored after the test
    settings = make_settings(database_url, redis_server.url)
    cycle_id = prepare(database_url, 2)
    ours, bare = issue_tokens(database_url, cycle_id)
    item_ids = [int(i) for i in os.environ["BENCH_ITEM_IDS"].split(",")]
    form = {f"item-{i}": str(1 + n % 5) for n, i in enumerate(item_ids)}

    app = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": False})
    reply = app.test_client().post(f"/s/{ours}", data=form)
    assert reply.status_code == 303
    app.extensions["pulse.db"][0].dispose()
    by_app = _stored(database_url, revision_key(settings.secret_key, ours))

    monkeypatch.setenv("PULSE_DATABASE_URL", database_url)
    monkeypatch.setenv("PULSE_SECRET_KEY", settings.secret_key)
    sys.modules.pop("bench.delivery_bare", None)  # it reads its database when imported
    ceiling = importlib.import_module("bench.delivery_bare")
    try:
        same = ceiling.app.test_client().post(f"/s/{bare}", data=form)
        assert same.status_code == 303
        assert same.headers["Location"] == reply.headers["Location"].replace(ours, bare)
        unknown = ceiling.app.test_client().post("/s/" + "A" * 43, data=form)
        assert unknown.status_code == 404
    finally:
        ceiling._engine.dispose()
    by_ceiling = _stored(database_url, revision_key(settings.secret_key, bare))

    response, answers, _, dirty = by_app
    assert by_ceiling[0] == response
    assert by_ceiling[1] == answers and len(answers) == len(form)
    assert by_ceiling[2] == (0, 0, 2)  # no comment, no feedback, both invitations answered
    assert by_ceiling[3] == dirty == [(response[1], response[0])]
