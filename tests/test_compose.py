"""docker-compose.yml wires every service, and every command it runs exists in the project."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from webapp.cli import main

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_every_service_is_there() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "mail"} <= set(services)


def test_app_services_share_the_same_environment() -> None:
    services = compose()["services"]
    envs = [services[name].get("environment") for name in ("web", "worker", "beat", "migrate")]
    # Beyond the shared environment, only the metrics settings of the processes that serve or
    # write metrics (web and the workers).
    extra = {"PROMETHEUS_MULTIPROC_DIR", "PULSE_METRICS_TOKEN"}
    shared = [{k: v for k, v in env.items() if k not in extra} for env in envs]
    assert all(env == shared[0] for env in shared)
    assert not extra & (envs[2].keys() | envs[3].keys())
    env = envs[0]
    assert env["PULSE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["PULSE_REDIS_URL"].startswith("redis://redis:")
    assert env["PULSE_SMTP_HOST"] == "mail"


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_every_command_refers_to_real_project_entry_points() -> None:
    services = compose()["services"]
    web = _command(services["web"])
    assert web[0] == "gunicorn" and "webapp.wsgi:app" in web
    module, _, attribute = "webapp.wsgi:app".partition(":")
    assert (ROOT / (module.replace(".", "/") + ".py")).exists()
    assert f"{attribute} = create_app()" in (ROOT / "webapp/wsgi.py").read_text()
    for name in ("worker", "beat"):
        command = _command(services[name])
        assert command[:3] == ["celery", "-A", "worker.celery_app"]
        assert (ROOT / "worker/celery_app.py").exists()
    migrate = _command(services["migrate"])
    if migrate[:2] == ["sh", "-c"]:
        # A retry loop around the command: the words of the `pulse …` it runs.
        script = migrate[2]
        migrate = script[script.index("pulse ") :].split("&&")[0].split()
    assert migrate[0] == "pulse"
    # The CLI loads its subcommands on use: ask each group for the next word as click does.
    group: click.Command = main
    for word in migrate[1:]:
        if word.startswith("-"):
            break
        assert isinstance(group, click.Group)
        found = group.get_command(click.Context(group), word)
        assert found is not None, word
        group = found


def test_app_services_wait_for_migrations() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_every_gunicorn_uses_the_settings_that_keep_link_tokens_out_of_its_logs() -> None:
    config = ["--config", "python:webapp.gunicorn_conf"]
    web = _command(compose()["services"]["web"])
    assert web[1:3] == config
    cmd = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD")
    )
    assert yaml.safe_load(cmd.removeprefix("CMD"))[:3] == ["gunicorn", *config]
    assert (ROOT / "webapp/gunicorn_conf.py").exists()
