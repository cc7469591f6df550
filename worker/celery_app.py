"""Worker entry point: `celery -A worker.celery_app worker` (add `--beat` for the scheduler)."""

from webapp import create_app

celery = create_app().extensions["celery"]
