# Team Pulse image: one image for web, worker, beat and the migration job.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY pulse ./pulse
COPY webapp ./webapp
COPY dashboard ./dashboard
COPY worker ./worker
COPY migrations ./migrations
RUN pip install --no-cache-dir -e . && useradd --create-home pulse
USER pulse
EXPOSE 8000
CMD ["gunicorn", "--config", "python:webapp.gunicorn_conf", "--bind", "0.0.0.0:8000", "webapp.wsgi:app"]
