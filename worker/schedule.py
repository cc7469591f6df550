"""Celery beat's schedule: one tick a minute; what is due lives in the database."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "tick": {"task": "worker.tasks.tick", "schedule": crontab()},
    "aggregation-sweep": {"task": "worker.aggregation.sweep", "schedule": crontab(minute="*/5")},
    "webhooks-sweep": {"task": "worker.webhooks.sweep", "schedule": crontab(minute="*/5")},
}
