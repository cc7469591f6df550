"""Celery wiring: every task runs in its own app context with its own database session."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask

from pulse.config import broker_url
from worker.metrics import install_task_metrics
from worker.schedule import BEAT_SCHEDULE

# Seconds: long enough for a loaded Redis on a network, short enough for a request to wait.
BROKER_CONNECT_TIMEOUT = 1.0
BROKER_SOCKET_TIMEOUT = 5.0


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app`; tasks are declared with @shared_task elsewhere."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = app.config["PULSE"]
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=broker_url(settings.redis_url),
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": 3600,
            # Queueing from a request must fail fast when Redis is down: by default kombu
            # retries the connection for about 6 s (three attempts, 2 s apart, 4 s budget),
            # which was the first submit's wait per process. One attempt, short socket
            # timeouts; the worker's own consuming connection still retries
            # (broker_connection_retry), and what a lost message would have done the
            # sweep or the next tick does.
            "max_retries": 0,
            "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
            "socket_timeout": BROKER_SOCKET_TIMEOUT,
        },
        beat_schedule=BEAT_SCHEDULE,
        timezone="UTC",
        imports=(
            "worker.tasks",
            "worker.aggregation",
            "worker.delivery",
            "worker.webhooks",
            "worker.sharing",
        ),
    )
    celery_app.conf.update(app.config.get("CELERY", {}))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    install_task_metrics(app)

    @worker_process_init.connect(weak=False)
    def _dispose_inherited_pool(**_: Any) -> None:
        # A forked worker must not reuse the parent's connections: open its own.
        app.extensions["pulse.db"][0].dispose(close=False)

    return celery_app
