"""Reading the real Redis broker: which Celery tasks are waiting in the default queue."""

from __future__ import annotations

import base64
import json

import redis


def queued_tasks(redis_url: str) -> list[tuple[str, object]]:
    """(task name, args) of every message waiting in the default Celery queue."""
    client = redis.Redis.from_url(redis_url)
    found = []
    for raw in client.lrange("celery", 0, -1):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], body[0]))
    return found


def empty_queue(redis_url: str) -> None:
    """Drop waiting messages so no later test's worker runs tasks queued by an admin page."""
    redis.Redis.from_url(redis_url).delete("celery")
