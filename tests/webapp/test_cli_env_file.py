"""`.env` in the working directory is read at start, as .env.example says; the environment wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _pulse(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".env").write_text(
        "# copied from .env.example\n"
        f"PULSE_DATABASE_URL=sqlite:///{tmp_path / 'from-file.db'}\n"
        "PULSE_THRESHOLD=4\n"
    )
    return tmp_path


def test_the_cli_reads_dot_env_from_the_working_directory(project: Path) -> None:
    done = _pulse(project, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert (project / "from-file.db").exists()


def test_the_environment_wins_over_the_file(project: Path) -> None:
    done = _pulse(project, "db", "upgrade", PULSE_DATABASE_URL=f"sqlite:///{project / 'env.db'}")
    assert done.returncode == 0, done.stderr
    assert (project / "env.db").exists()
    assert not (project / "from-file.db").exists()


def test_a_bad_value_in_the_file_is_a_configuration_error(project: Path) -> None:
    with (project / ".env").open("a") as env_file:
        env_file.write("PULSE_THRESHOLD=40\n")
    done = _pulse(project, "db", "upgrade")
    assert done.returncode == 3
    assert "PULSE_THRESHOLD must be between 3 and 10" in done.stderr


def test_the_app_factory_reads_it_too(project: Path) -> None:
    # gunicorn and the Celery worker build the app without the CLI.
    code = "from webapp import create_app; print(create_app().config['PULSE'].threshold)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=clean, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "4"
