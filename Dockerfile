# Team Pulse image: one image for web, worker, beat and the migration job.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# WeasyPrint lays the team report's PDF out with Pango.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, in a layer of their own, from the lock (every version pinned, every
# file hash-checked): rebuilt only when the lock changes, and the same on every build.
COPY requirements/runtime.lock ./requirements/runtime.lock
RUN pip install --require-hashes -r requirements/runtime.lock

# Then the project itself, as a wheel install (the migrations ship inside it, see pyproject),
# built with the locked setuptools and resolving nothing again.
COPY pyproject.toml README.md alembic.ini ./
COPY pulse ./pulse
COPY webapp ./webapp
COPY dashboard ./dashboard
COPY worker ./worker
COPY migrations ./migrations
RUN pip install --no-deps --no-build-isolation . && rm -rf build && useradd --create-home pulse
USER pulse
EXPOSE 8000
# The web server's liveness; compose turns it off for the worker, beat and migration job.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "--config", "python:webapp.gunicorn_conf", "--bind", "0.0.0.0:8000", "webapp.wsgi:app"]
