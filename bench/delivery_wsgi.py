"""The Team Pulse app plus a bare one-INSERT endpoint, served by gunicorn for bench_delivery."""

from __future__ import annotations

import os

from sqlalchemy import text

from pulse.db import random_id
from webapp import create_app
from webapp.extensions import csrf, db

app = create_app()


@app.post("/bench/insert")
@csrf.exempt
def bare_insert() -> tuple[str, int]:
    """The ceiling: one INSERT and a commit on the same app, server and database."""
    db.session.execute(text("INSERT INTO bench_inserts (id) VALUES (:id)"), {"id": random_id()})
    db.session.commit()
    return "ok", 200


@app.get("/bench/pid")
def worker_pid() -> str:
    """Which gunicorn worker answered: the harness waits until every worker has booted."""
    return str(os.getpid())
