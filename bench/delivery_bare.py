"""The submit bench's ceiling: a bare Flask app whose one route does one Core INSERT.

Nothing of Team Pulse's app is in it: no create_app, no extensions, no session, no CSRF, no
rate limiter, no request hooks. Only Flask's routing and request handling, one pooled
connection and one INSERT … VALUES on it in autocommit (the statement is its own transaction:
no BEGIN or COMMIT round trip) and no liveness ping at checkout, which is the least a web app
must do to store a submitted answer. It shares with the app what is not the app's to save:
the same gunicorn settings (bench_delivery starts both alike), the same database, and the
same SQLite pragmas and pool size (pulse.db.make_engine, PULSE_DB_POOL_SIZE).
"""

from __future__ import annotations

import os
import uuid

from flask import Flask
from sqlalchemy import Column, MetaData, String, Table, insert

from pulse.db import make_engine

_table = Table("bench_inserts", MetaData(), Column("id", String(32), primary_key=True))
_INSERT = insert(_table)
_engine = make_engine(
    os.environ["PULSE_DATABASE_URL"],
    pool_size=int(os.environ.get("PULSE_DB_POOL_SIZE", "10")),
    isolation_level="AUTOCOMMIT",
    pool_pre_ping=False,
)

app = Flask(__name__)


@app.post("/bench/insert")
def bare_insert() -> tuple[str, int]:
    """One INSERT, committed as it completes."""
    with _engine.connect() as connection:
        connection.execute(_INSERT, {"id": uuid.uuid4().hex})
    return "ok", 200


@app.get("/bench/pid")
def worker_pid() -> str:
    """Which gunicorn worker answered: the harness waits until every worker has booted."""
    return str(os.getpid())
