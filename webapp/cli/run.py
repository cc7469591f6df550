"""`pulse run`: the embedded all-in-one (Redis, a worker with beat, and the web server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from pulse.config import ConfigError, Settings
from webapp.cli.context import EXIT_CONFIG
from webapp.cli.demo import print_sign_ins
from webapp.cli.processes import Children
from worker.embedded_redis import EmbeddedRedis

VAR = Path("var")


def gunicorn_command(
    bind: str, workers: int, *, access_log: str = "-", error_log: str = "-"
) -> list[str]:
    """The web server `pulse run` starts: gunicorn with the access log on stdout by default.

    The shared gunicorn settings (webapp/gunicorn_conf.py) keep answer-link tokens out of
    the access and error logs.
    """
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:webapp.gunicorn_conf",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        access_log,
        "--error-logfile",
        error_log,
        "webapp.wsgi:app",
    ]


ACCESS_LOG = VAR / "access.log"


def prepare_command(*, demo: bool) -> list[str]:
    """Migrate (and seed the demo). The sign-ins are printed once, under the URL, by `run`."""
    if demo:
        return [sys.executable, "-m", "webapp.cli", "demo", "--no-sign-ins"]
    return [sys.executable, "-m", "webapp.cli", "db", "upgrade"]


def web_command(host: str, port: int, workers: int) -> list[str]:
    """The web server as `pulse run` starts it: one access line per request goes to
    var/access.log (1,599 lines flooded the console in one short session), and the console
    gets gunicorn's warnings and errors only.

    Without gunicorn's control socket: its master would run an asyncio thread serving
    ~/.gunicorn/gunicorn.ctl, one path shared by every gunicorn of the user (a second
    `pulse run`, a test, a benchmark unlink and take it over), and its stop waits on that
    thread. A master left running after Ctrl-C was blocked on a lock with 3 threads.
    """
    command = gunicorn_command(f"{host}:{port}", workers, access_log=str(ACCESS_LOG))
    return [*command[:-1], "--log-level", "warning", "--no-control-socket", command[-1]]


def worker_command() -> list[str]:
    """One Celery worker with beat; on the console, warnings and errors only: no banner (a
    screenful at every start) and no INFO line for each task every minute."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "--quiet",
        "worker",
        "--beat",
        "--loglevel",
        "WARNING",
        "--concurrency",
        "1",
        "--schedule",
        str(VAR / "celerybeat-schedule"),
    ]


# Ctrl-C, `kill`, a closed terminal: each stops the children in order, once.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How long each child has to stop on SIGTERM before it is killed.
STOP_TIMEOUT = 10.0


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-demo", is_flag=True, help="Do not seed the demo organisation.")
@click.option("--workers", default=2, show_default=True, help="Web server worker processes.")
def run(host: str, port: int, no_demo: bool, workers: int) -> None:
    """Migrate, seed the demo, and run Redis, a Celery worker with beat, and the web server."""
    VAR.mkdir(exist_ok=True)
    redis_server = EmbeddedRedis(VAR)
    env = dict(os.environ)
    env.setdefault("PULSE_REDIS_URL", redis_server.url)
    env.setdefault("PULSE_BASE_URL", f"http://{host}:{port}")
    # One /metrics scrape sees the web and worker processes (webapp/metrics.py).
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR / "metrics"))
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        click.secho(f"Configuration error: {exc}", fg="red", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    os.environ.update({k: env[k] for k in ("PULSE_REDIS_URL", "PULSE_BASE_URL")})

    click.echo("Preparing the database…")
    prepare = prepare_command(demo=not no_demo)
    if subprocess.run(prepare, env=env, check=False).returncode != 0:
        raise SystemExit("Could not prepare the database; see the message above.")

    children = Children(announce=lambda line: click.secho(f"  {line}", fg="yellow", err=True))
    if settings.redis_url == redis_server.url:
        click.echo("Starting embedded Redis…")
        redis_server.start()
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)
    try:
        click.echo("  starting worker and beat")
        children.spawn("worker", worker_command(), env)
        click.echo("  starting web server")
        children.spawn("web", web_command(host, port, workers), env)
        click.secho(f"\nTeam Pulse is running at http://{host}:{port}/", fg="green", bold=True)
        if not no_demo:
            print_sign_ins()
        if settings.outbox_browsable:
            click.echo(f"Sent mail is kept in the dev outbox: http://{host}:{port}/dev/outbox")
        click.echo(f"Requests are logged to {ACCESS_LOG}.")
        click.echo("Press Ctrl-C to stop.\n")
        while not stopping:
            exited = children.exited()
            if exited is not None:
                name, code = exited
                click.secho(f"{name} exited with code {code}; stopping.", fg="red", err=True)
                stopping = True
            time.sleep(0.5)
    finally:
        # A second Ctrl-C while stopping must not cut the stop short and leave children.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        click.echo("\nStopping…")
        children.stop(timeout=STOP_TIMEOUT)
        redis_server.stop()
        click.echo("Stopped.")
