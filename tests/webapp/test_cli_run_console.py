"""`pulse run`'s console: the URL, the sign-ins once, and errors; access lines go to var/."""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pulse.demo import SIGN_INS
from webapp.cli import main
from webapp.cli.run import ACCESS_LOG, VAR, prepare_command, web_command, worker_command


def test_the_web_server_logs_requests_to_a_file_under_var_and_warnings_to_the_console() -> None:
    command = web_command("127.0.0.1", 5000, 2)
    access = command[command.index("--access-logfile") + 1]
    assert Path(access) == ACCESS_LOG and ACCESS_LOG.parent == VAR
    assert command[command.index("--error-logfile") + 1] == "-"
    assert command[command.index("--log-level") + 1] == "warning"
    # No control socket: one path per user, shared by every gunicorn, and a thread in the
    # master that its stop waits on.
    assert "--no-control-socket" in command
    assert command[-1] == "webapp.wsgi:app"


def test_the_worker_prints_no_banner_and_no_info_lines() -> None:
    command = worker_command()
    assert command.index("--quiet") < command.index("worker")
    assert command[command.index("--loglevel") + 1] == "WARNING"


def test_migrating_prints_no_alembic_lines(tmp_path: Path) -> None:
    """What `pulse run` prints first: it ran `pulse db upgrade`, which printed alembic's INFO
    lines (a plugin list and every migration step)."""
    env = {
        **os.environ,
        "PULSE_ENV": "development",
        "PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'pulse.db'}",
        "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        prepare_command(demo=False),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[0].startswith("Database is up to date")
    assert "alembic" not in done.stdout


def test_a_failed_migration_still_shows_its_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PULSE_ENV": "development",
        # A directory where the database file should be: SQLite cannot open it.
        "PULSE_DATABASE_URL": f"sqlite:///{tmp_path}",
        "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        prepare_command(demo=False),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "unable to open database file" in done.stderr


def test_preparing_the_demo_leaves_the_sign_ins_to_run() -> None:
    assert prepare_command(demo=True)[-2:] == ["demo", "--no-sign-ins"]
    assert prepare_command(demo=False)[-2:] == ["db", "upgrade"]


@pytest.mark.parametrize(("flag", "shown"), [([], True), (["--no-sign-ins"], False)])
def test_demo_lists_the_sign_ins_unless_asked_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], shown: bool
) -> None:
    # The seeding itself is tested in test_cli_foundation; here only what is printed.
    demo_command = importlib.import_module("webapp.cli.demo")  # the package names the command
    monkeypatch.setattr(demo_command, "upgrade_database", lambda: None)
    monkeypatch.setattr(demo_command, "seed_demo", lambda seed: False)
    env = {
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'pulse.db'}",
        "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = CliRunner().invoke(main, ["demo", *flag], env=env)
    assert result.exit_code == 0, result.output
    assert (SIGN_INS[0][0] in result.output) is shown
    assert "already there" in result.output
