"""docker-compose.yml is valid (`docker compose config`) and deploys as an operator expects."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as compose resolves it (anchors merged, variables filled in)."""
    command = _compose_command()
    if command is None:
        if IN_CI:
            pytest.fail("CI needs docker compose or docker-compose to validate the compose file")
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {**os.environ, "PULSE_SECRET_KEY": "x" * 48}
    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)  # type: ignore[no-any-return]


def _ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, published port) of each mapping, in either of compose's spellings."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), str(port.get("published"))))
        else:
            parts = str(port).split(":")
            found.append((parts[0] if len(parts) == 3 else "", parts[-2]))
    return found


def test_https_in_front_so_secure_cookies_work(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["web"]["environment"]["PULSE_BASE_URL"].startswith("https://")
    assert services["web"]["environment"]["PULSE_ENV"] == "production"
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert "tls internal" in (ROOT / "Caddyfile").read_text()
    published = {port for _, port in _ports(proxy)}
    assert {"443", "80"} <= published


def test_postgres_is_healthy_only_over_tcp(compose: dict[str, Any]) -> None:
    check = " ".join(compose["services"]["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in check and "-h " in check


def test_the_migration_job_retries_a_refused_connection(compose: dict[str, Any]) -> None:
    script = " ".join(compose["services"]["migrate"]["command"])
    assert "pulse db upgrade" in script and "sleep" in script and "exit 1" in script


def test_restart_policies_and_grace_periods(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        expected = "no" if name == "migrate" else "unless-stopped"
        assert service.get("restart") == expected, name
    # A send in progress took 49 s to finish on SIGTERM: the worker gets more than that.
    grace = services["worker"]["stop_grace_period"]
    assert grace in {"2m0s", "120s", "2m"} or int(str(grace).rstrip("s")) >= 60


def test_the_mail_catcher_is_pinned_and_local(compose: dict[str, Any]) -> None:
    mail = compose["services"]["mail"]
    assert not mail["image"].endswith(":latest") and ":" in mail["image"]
    assert all(host == "127.0.0.1" for host, _ in _ports(mail))


def test_the_image_installs_the_locked_dependencies_before_the_source() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile
    dependencies = dockerfile.index("pip install --require-hashes -r requirements/runtime.lock")
    assert dockerfile.index("COPY requirements/runtime.lock") < dependencies
    # The dependency layer sees only the lock: a change to the source does not rebuild it.
    source = min(dockerfile.index(f"COPY {name}") for name in ("pyproject.toml", "pulse"))
    assert dependencies < source
    # The project goes on top without resolving anything again, as a real (not -e) install:
    # the migrations are packaged.
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    assert "-e ." not in dockerfile
    # WeasyPrint's PDF needs Pango at run time.
    assert "libpango-1.0-0" in dockerfile and "libpangoft2-1.0-0" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "var"} <= set(ignored)
    assert "requirements" not in ignored


def test_metrics_share_one_in_memory_directory_between_web_and_workers(
    compose: dict[str, Any],
) -> None:
    """One scrape of web must see the workers' task counts: they write to the same directory,
    a tmpfs volume (empty at every start, as prometheus-client's multiprocess mode needs)."""
    for name in ("web", "worker"):
        service = compose["services"][name]
        directory = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert directory == "/var/run/pulse-metrics"
        mounts = [str(v) for v in service["volumes"]]
        assert f"pulse-metrics:{directory}" in {m.rsplit(":rw", 1)[0] for m in mounts}, mounts
    volume = compose["volumes"]["pulse-metrics"]
    assert volume["driver_opts"]["type"] == "tmpfs"
    # Through the proxy nothing is loopback: the token is how Prometheus gets in.
    assert "PULSE_METRICS_TOKEN" in compose["services"]["web"]["environment"]
