"""The `pulse` command line, run as a real process: db upgrade, users create, demo, tick."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pulse.db import make_engine, make_session_factory
from pulse.demo import SIGN_INS, TEAMS
from pulse.people.models import Person
from pulse.people.service import authenticate
from pulse.surveys.models import Cycle, Item
from pulse.teams.models import Membership, Team

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def pulse(db_file: Path, tmp_path: Path) -> Run:
    def run(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "PULSE_DATABASE_URL": f"sqlite:///{db_file}",
            "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
            "PULSE_ENV": "development",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "webapp.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environment,
            cwd=Path(__file__).resolve().parents[2],
            timeout=600,
        )

    return run


def open_session(db_file: Path):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(f"sqlite:///{db_file}"))()


def test_db_upgrade_creates_the_schema_and_item_bank(pulse: Run, db_file: Path) -> None:
    first = pulse("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout
    again = pulse("db", "upgrade")
    assert again.returncode == 0
    with open_session(db_file) as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 18


def test_users_create_reads_the_password_from_stdin(pulse: Run, db_file: Path) -> None:
    pulse("db", "upgrade")
    result = pulse(
        "users", "create", "Ada@Example.org", "--role", "admin", stdin="a long enough password\n"
    )
    assert result.returncode == 0, result.stderr
    with open_session(db_file) as session:
        person = authenticate(session, email="ada@example.org", password="a long enough password")
        assert person is not None and person.is_admin


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["users", "create", "lead@example.org", "--role", "leader"],
            "long password 123",
            "a leader needs --team",
        ),
        (
            ["users", "create", "lead@example.org", "--role", "leader", "--team", "Nowhere"],
            "long password 123",
            "no team named 'Nowhere'",
        ),
        (
            ["users", "create", "not-an-email", "--role", "admin"],
            "long password 123",
            "not a valid email",
        ),
        (["users", "create", "ada@example.org", "--role", "admin"], "short", "at least 10"),
    ],
)
def test_users_create_refuses_bad_input_and_writes_nothing(
    pulse: Run, db_file: Path, args: list[str], stdin: str, message: str
) -> None:
    pulse("db", "upgrade")
    result = pulse(*args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    with open_session(db_file) as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_production_without_a_secret_stops_with_a_clear_message(pulse: Run) -> None:
    result = pulse(
        "db", "upgrade", PULSE_ENV="production", PULSE_SECRET_KEY="", PULSE_MAIL_BACKEND="smtp"
    )
    assert result.returncode == 3
    assert "PULSE_SECRET_KEY" in result.stderr


def test_demo_seeds_a_believable_organisation_once(pulse: Run, db_file: Path) -> None:
    first = pulse("demo", "--seed", "3")
    assert first.returncode == 0, first.stderr
    for email, _, _ in SIGN_INS:
        assert email in first.stdout
    with open_session(db_file) as session:
        kinds = dict(session.execute(select(Team.kind, func.count()).group_by(Team.kind)).all())
        assert kinds == {"organisation": 1, "department": 3, "team": len(TEAMS)}
        sizes = [
            session.scalar(
                select(func.count())
                .select_from(Membership)
                .join(Team)
                .where(Team.name == spec.name)
            )
            for spec in TEAMS
        ]
        assert min(sizes) == 3 and max(sizes) <= 16
        assert any(size < 5 for size in sizes)
        people = session.scalar(select(func.count()).select_from(Person))
        assert 75 <= people <= 100
        statuses = dict(
            session.execute(select(Cycle.status, func.count()).group_by(Cycle.status)).all()
        )
        assert statuses["open"] == 1 and statuses["closed"] >= 26
        leader = authenticate(session, email=SIGN_INS[1][0], password="pulse-demo-2026")
        assert leader is not None and leader.led_team_ids
    again = pulse("demo")
    assert again.returncode == 0
    assert "already there" in again.stdout
    with open_session(db_file) as session:
        assert session.scalar(select(func.count()).select_from(Person)) == people


def test_tick_rejects_a_malformed_instant(pulse: Run) -> None:
    pulse("db", "upgrade")
    result = pulse("tick", "--now", "next tuesday")
    assert result.returncode == 2
    assert "ISO-8601" in result.stderr


def test_tick_closes_the_open_demo_cycle_after_its_window(pulse: Run, db_file: Path) -> None:
    assert pulse("demo").returncode == 0
    with open_session(db_file) as session:
        closes = session.scalar(select(Cycle.closes_at).where(Cycle.status == "open"))
    assert closes is not None
    result = pulse("tick", "--now", closes.isoformat())
    assert result.returncode == 0, result.stderr
    with open_session(db_file) as session:
        assert (
            session.scalar(select(func.count()).select_from(Cycle).where(Cycle.status == "open"))
            == 0
        )
