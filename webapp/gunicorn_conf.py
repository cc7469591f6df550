"""gunicorn settings shared by `pulse run`, docker-compose and the image:
`gunicorn --config python:webapp.gunicorn_conf webapp.wsgi:app`.

Command-line options given after it (bind, workers, log files) still apply; this module
only makes every log gunicorn writes leave out answer-link tokens.
"""

logger_class = "webapp.gunicorn_logging.TokenRedactingLogger"
