"""Request ids and the log format: one id per request, carried into the tasks it queues.

Every request gets an id (the proxy's X-Request-ID when it sends a sane one, else a new one),
echoed in the response. A task queued while handling it carries the id in a message header,
and the worker's log records of that task bear it too, so one grep follows a submit from
the web log into its aggregation. PULSE_LOG_FORMAT=json writes one JSON object per line
(what a log shipper wants); the default stays readable text.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response

HEADER = "X-Request-ID"
_ENVIRON_KEY = "HTTP_" + HEADER.upper().replace("-", "_")
TASK_HEADER = "pulse_request_id"
_SANE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# The id of the task running in this worker thread, if it came from a request.
_task_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pulse_task_request_id", default=None
)


def current_request_id() -> str | None:
    """The id of the request being handled, or of the request that queued this task."""
    if has_request_context():
        value = g.get("request_id")
        return value if isinstance(value, str) else None
    return _task_request_id.get()


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record ("-" outside a request or a task of one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """The root logger's one handler, in the chosen format, with request ids."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    formatter = JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_pulse", False)]:
        root.removeHandler(old)
    handler._pulse = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def install(app: Flask) -> None:
    """Give each request an id, echo it, and carry it into the tasks the request queues."""

    @app.before_request
    def _assign() -> None:
        # From the WSGI environ: a header lookup that misses (most requests send no id)
        # raises and catches a KeyError inside werkzeug.
        given = request.environ.get(_ENVIRON_KEY, "")
        g.request_id = given if _SANE.match(given) else uuid.uuid4().hex

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[HEADER] = request_id
        return response


@before_task_publish.connect(weak=False)
def _stamp_message(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = current_request_id()
    if headers is not None and request_id:
        headers[TASK_HEADER] = request_id


@task_prerun.connect(weak=False)
def _enter_task(task: Any = None, **_: Any) -> None:
    value = getattr(task.request, TASK_HEADER, None) if task is not None else None
    _task_request_id.set(value if isinstance(value, str) else None)


@task_postrun.connect(weak=False)
def _leave_task(**_: Any) -> None:
    _task_request_id.set(None)
