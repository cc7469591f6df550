"""The Team Pulse app as production builds it, served by gunicorn for bench_delivery's submits.

Its ceiling is a separate, bare app (bench.delivery_bare) under the same gunicorn settings: a
ceiling route inside this app would carry the app's own per-request cost (its hooks,
extensions and session) and flatter the ratio.
"""

from __future__ import annotations

import os

from webapp import create_app

app = create_app()


@app.get("/bench/pid")
def worker_pid() -> str:
    """Which gunicorn worker answered: the harness waits until every worker has booted."""
    return str(os.getpid())
