"""Multiprocess mode as `pulse run` and compose run it: gunicorn with two workers and a Celery
worker with its pool, all writing to one PROMETHEUS_MULTIPROC_DIR, seen by one scrape."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from flask import Flask

from pulse.config import Settings
from tests.support.prometheus import label_values, value

ROOT = Path(__file__).resolve().parents[2]
PROCESS_START = "pulse_process_start_time_seconds"
STARTUP = 300.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("this kernel does not list a process's children")
    return {int(child) for child in path.read_text().split()}


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def environment(settings: Settings, tmp_path: Path) -> dict[str, str]:
    samples = tmp_path / "metrics"
    samples.mkdir()
    # Left over from an earlier run: emptied when the server starts.
    (samples / "counter_999999.db").write_bytes(b"\0" * 8)
    return {
        **os.environ,
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": settings.database_url,
        "PULSE_REDIS_URL": settings.redis_url,
        "PULSE_SECRET_KEY": "test-secret-key-that-is-long-enough-123",
        "PULSE_BASE_URL": "http://127.0.0.1:5000",
        "PULSE_MAIL_BACKEND": "outbox",
        "PROMETHEUS_MULTIPROC_DIR": str(samples),
    }


@pytest.fixture
def processes(
    environment: dict[str, str],
) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """gunicorn (2 workers) and a Celery worker (a pool of 2), started side by side."""
    from webapp.cli.run import gunicorn_command

    port = free_port()
    command = gunicorn_command(f"127.0.0.1:{port}", 2, access_log="/dev/null")
    server = subprocess.Popen(command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL)
    worker_command = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--pool", "prefork", "--concurrency", "2", "-n", "metrics@test",
        "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
    ]  # fmt: skip
    worker = subprocess.Popen(worker_command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        # Loading the app takes a while on a busy machine: a readiness wait, not a speed test.
        assert wait_for(lambda: get(f"{base}/healthz")[0] == 200, STARTUP), "no gunicorn"
        yield base, server, worker
    finally:
        stop(server)
        stop(worker)


def scrape(base: str) -> str:
    status, text = get(f"{base}/metrics")
    assert status == 200, text
    return text


@pytest.mark.timeout(900)
def test_one_scrape_sees_both_web_workers_and_the_celery_pool(
    app: Flask,
    environment: dict[str, str],
    processes: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
) -> None:
    base, server, _worker = processes
    directory = Path(environment["PROMETHEUS_MULTIPROC_DIR"])
    assert not (directory / "counter_999999.db").exists()

    # Both gunicorn workers show in one scrape, whichever of them answers it.
    workers = children(server.pid)
    assert len(workers) == 2
    pids = {str(pid) for pid in workers}
    assert wait_for(lambda: pids <= label_values(scrape(base), PROCESS_START, "pid"))

    # Requests answered by any worker add up in every scrape.
    before = value(scrape(base), "pulse_http_requests_total", route="/healthz")
    for _ in range(20):
        assert get(f"{base}/healthz")[0] == 200
    after = value(scrape(base), "pulse_http_requests_total", route="/healthz")
    assert after - before == 20

    # A task run by a pool process of the Celery worker shows in the web server's scrape.
    celery: Celery = app.extensions["celery"]
    celery.send_task("worker.tasks.tick")
    assert wait_for(
        lambda: value(scrape(base), "pulse_celery_tasks_total", task="worker.tasks.tick") == 1,
        STARTUP,
    ), "the Celery worker's task never showed in the scrape"
    assert list(directory.glob("celery-*/counter_*.db"))

    # A worker that exits leaves the process gauges; its requests stay in the totals.
    gone = min(workers)
    os.kill(gone, signal.SIGTERM)
    assert wait_for(lambda: len(children(server.pid) - {gone}) == 2, STARTUP)
    text = scrape(base)
    assert wait_for(lambda: str(gone) not in label_values(scrape(base), PROCESS_START, "pid"))
    assert value(text, "pulse_http_requests_total", route="/healthz") >= after
