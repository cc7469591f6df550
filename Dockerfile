# Team Pulse image: one image for web, worker, beat and the migration job.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, in a layer of their own: it is rebuilt only when pyproject.toml changes,
# not on every change to the source.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself, as a wheel install (the migrations ship inside it, see pyproject).
COPY README.md alembic.ini ./
COPY pulse ./pulse
COPY webapp ./webapp
COPY dashboard ./dashboard
COPY worker ./worker
COPY migrations ./migrations
RUN pip install --no-deps . && rm -rf build && useradd --create-home pulse
USER pulse
EXPOSE 8000
# The web server's liveness; compose turns it off for the worker, beat and migration job.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "--config", "python:webapp.gunicorn_conf", "--bind", "0.0.0.0:8000", "webapp.wsgi:app"]
