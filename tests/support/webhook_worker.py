"""A Celery worker app for the webhook crash test: unacknowledged tasks come back in seconds.

Run as `celery -A tests.support.webhook_worker worker`; settings come from the environment.
"""

from webapp import create_app

app = create_app(
    {
        "CELERY": {
            "broker_transport_options": {
                "visibility_timeout": 3,
                "unacked_restore_throttle": 1,
                "unacked_restore_interval": 1,
            }
        },
        "PULSE_WEBHOOK_BACKOFF": (1, 1, 1),
    }
)
celery = app.extensions["celery"]
