"""`pulse people import FILE [--dry-run] [--deactivate-missing]` against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.people.models import Person
from tests.support.people_csv import bad_people_file, people_rows, to_csv
from webapp.cli import main
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, database_url: str, redis_server: EmbeddedRedis
) -> CliRunner:
    monkeypatch.setenv("PULSE_DATABASE_URL", database_url)
    monkeypatch.setenv("PULSE_REDIS_URL", redis_server.url)
    monkeypatch.setenv("PULSE_ENV", "test")
    return CliRunner()


def people(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Person)) or 0


def test_bad_file_lists_errors_and_exits_1(
    run: CliRunner, tmp_path: Path, session: Session
) -> None:
    content, expected = bad_people_file(200)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = run.invoke(main, ["people", "import", str(path)])
    assert result.exit_code == 1
    for line, reason in expected.items():
        assert f"line {line}: {reason}" in result.stderr
    assert "5 error(s); nothing was imported." in result.stderr
    assert people(session) == 0


def test_dry_run_then_import_then_deactivate_missing(
    run: CliRunner, tmp_path: Path, session: Session
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(to_csv(people_rows(200), delimiter=";", bom=True))
    dry = run.invoke(main, ["people", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run, nothing written. Would have: 200 rows; people 200 created" in dry.output
    assert people(session) == 0
    real = run.invoke(main, ["people", "import", str(path)])
    assert real.exit_code == 0 and "Imported: 200 rows; people 200 created" in real.output
    assert people(session) == 200
    path.write_bytes(to_csv(people_rows(150)))
    smaller = run.invoke(main, ["people", "import", str(path), "--deactivate-missing"])
    assert "150 unchanged, 50 deactivated" in smaller.output
    assert people(session) == 200
    details = session.scalars(
        select(AuditEvent.detail)
        .where(AuditEvent.action == "people.import")
        .order_by(AuditEvent.id)
    ).all()
    assert [d["people_created"] for d in details] == [200, 0]
    assert details[1]["people_deactivated"] == 50
