"""The submit bench's two ceilings: a bare Flask app storing a submit's writes, and one INSERT.

Nothing of Team Pulse's app is in it: no create_app, no extensions, no session, no CSRF, no
rate limiter, no request hooks, no ORM. Only Flask's routing and request handling and one
pooled connection without a liveness ping at checkout. It shares with the app what is not
the app's to save: the same gunicorn settings (bench_delivery starts both alike), the same
database, and the same SQLite pragmas and pool size (pulse.db.make_engine,
PULSE_DB_POOL_SIZE).

`POST /s/<token>`, the same-writes ceiling, which carries the submit goal: the least work that
gives the result of a first submit of the answer form. It stores exactly what
pulse.answers.submit does for one: a response row (a random id, the cycle, the team, the day
and the link's revision key), one answer row per posted item, the invitation marked
answered and the team × cycle marked dirty for aggregation, all in one transaction, and
redirects as the app does (303 to the page, without the app's redirect body). It reads of
the link's target only the invitation's id, team and cycle, found by the token's hash; it
checks nothing (not that the cycle is open, not the items, not the values beyond reading
them as numbers) and reads no items. Its SQL is written out once and run on the DBAPI cursor.
On SQLite: that read, then BEGIN, the four writes and COMMIT. On PostgreSQL: the read and the
writes as one statement (data-modifying CTEs), which is its own transaction: one round trip.

`POST /bench/insert`, for information: one Core INSERT of one uuid row in autocommit, the
least a web app must do to store anything at all, but not a submit's result.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import Column, MetaData, String, Table, insert

from pulse.db import make_engine, random_id
from pulse.delivery.tokens import revision_key, token_hash

_table = Table("bench_inserts", MetaData(), Column("id", String(32), primary_key=True))
_INSERT = insert(_table)
_engine = make_engine(
    os.environ["PULSE_DATABASE_URL"],
    pool_size=int(os.environ.get("PULSE_DB_POOL_SIZE", "10")),
    isolation_level="AUTOCOMMIT",
    pool_pre_ping=False,
)
_POSTGRESQL = _engine.dialect.name == "postgresql"
_SECRET = os.environ["PULSE_SECRET_KEY"]

app = Flask(__name__)


@app.post("/bench/insert")
def bare_insert() -> tuple[str, int]:
    """One INSERT, committed as it completes."""
    with _engine.connect() as connection:
        connection.execute(_INSERT, {"id": uuid.uuid4().hex})
    return "ok", 200


# The same writes as a first submit (pulse.answers.submit), as plain SQL for the driver. -----

_SQLITE_TARGET = (
    "SELECT i.id, i.team_id, i.cycle_id FROM invitation_links AS l "
    "JOIN invitations AS i ON i.id = l.invitation_id WHERE l.token_hash = ?"
)
_SQLITE_RESPONSE = (
    "INSERT INTO responses (id, cycle_id, team_id, submitted_on, revision_key) "
    "VALUES (?, ?, ?, ?, ?)"
)
_SQLITE_ANSWERED = "UPDATE invitations SET answered = 1 WHERE id = ?"
_SQLITE_DIRTY = (
    "INSERT INTO dirty_team_cycles (team_id, cycle_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
)


@lru_cache(maxsize=16)
def _sqlite_answers(count: int) -> str:
    """One INSERT of `count` answer rows (one step of SQLite, as the app does)."""
    rows = ", ".join(["(?, ?, ?)"] * count)
    return f"INSERT INTO answers (response_id, item_id, value) VALUES {rows}"


_POSTGRESQL_SUBMIT = """
WITH target AS (
    SELECT i.id, i.team_id, i.cycle_id FROM invitation_links AS l
    JOIN invitations AS i ON i.id = l.invitation_id WHERE l.token_hash = %(token_hash)s
), answered AS (
    UPDATE invitations SET answered = true FROM target WHERE invitations.id = target.id
    RETURNING target.team_id, target.cycle_id
), dirty AS (
    INSERT INTO dirty_team_cycles (team_id, cycle_id)
    SELECT team_id, cycle_id FROM answered ON CONFLICT DO NOTHING
), response AS (
    INSERT INTO responses (id, cycle_id, team_id, submitted_on, revision_key)
    SELECT %(response_id)s, cycle_id, team_id, %(day)s, %(revision_key)s FROM answered
), owned AS (
    INSERT INTO answers (response_id, item_id, value)
    SELECT %(response_id)s, given.item_id, given.value
    FROM answered, unnest(%(items)s::integer[], %(values)s::integer[]) AS given(item_id, value)
)
SELECT count(*) FROM answered
"""


def _store(token: str, answers: list[tuple[int, int | None]]) -> bool:
    """A first submit's writes for the link, in one transaction; False for an unknown link."""
    hashed, key = token_hash(token), revision_key(_SECRET, token)
    response_id = random_id()
    day = datetime.now(UTC).date()
    connection: Any = _engine.raw_connection()
    try:
        cursor = connection.cursor()
        if _POSTGRESQL:
            cursor.execute(
                _POSTGRESQL_SUBMIT,
                {
                    "token_hash": hashed,
                    "response_id": response_id,
                    "day": day,
                    "revision_key": key,
                    "items": [item for item, _ in answers],
                    "values": [value for _, value in answers],
                },
            )
            (found,) = cursor.fetchone()
            return bool(found)
        cursor.execute(_SQLITE_TARGET, (hashed,))
        target = cursor.fetchone()
        if target is None:
            return False
        invitation_id, team_id, cycle_id = target
        cursor.execute("BEGIN")
        try:
            cursor.execute(_SQLITE_RESPONSE, (response_id, cycle_id, team_id, day.isoformat(), key))
            cursor.execute(
                _sqlite_answers(len(answers)),
                [value for item, given in answers for value in (response_id, item, given)],
            )
            cursor.execute(_SQLITE_ANSWERED, (invitation_id,))
            cursor.execute(_SQLITE_DIRTY, (team_id, cycle_id))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return True
    finally:
        connection.close()


@app.post("/s/<token>")
def same_writes(token: str) -> Response:
    """A first submit's writes for the posted answer form, then the app's redirect."""
    answers = [
        (int(key[5:]), int(value) if value else None)
        for key, value in request.form.items()
        if key.startswith("item-")
    ]
    if not _store(token, answers):
        return Response("unknown link", status=404)
    return Response(status=303, headers={"Location": f"/s/{token}?saved=1"})


@app.get("/bench/pid")
def worker_pid() -> str:
    """Which gunicorn worker answered: the harness waits until every worker has booted."""
    return str(os.getpid())
