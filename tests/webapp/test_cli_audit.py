"""`pulse audit disclosure`: its figures and exit codes on a small organisation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

import pulse.reporting.suppression as suppression
from pulse.confidentiality import GroupCount, GroupId, group_totals
from pulse.people.models import Person, RoleGrant
from pulse.reporting.aggregation import rebuild_all
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.support.answers import invite
from webapp.cli import main

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
Run = Callable[..., subprocess.CompletedProcess[str]]
LEADER = "lead.d@audit.test"


def _environment(database_url: str) -> dict[str, str]:
    return {
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
        "PULSE_ENV": "development",
    }


@pytest.fixture
def pulse(database_url: str) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "webapp.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **_environment(database_url)},
            cwd=Path(__file__).resolve().parents[2],
            timeout=300,
        )

    return run


@pytest.fixture
def small_org(session: Session) -> Iterator[dict[str, Team]]:
    """D with A (6) and B (2, so A hides as its complement), E with C (9); a closed cycle
    and an open one nobody has answered yet; an admin and D's leader."""
    teams = make_tree(session, {"A": ("D", 0), "B": ("D", 0), "C": ("E", 0)})
    closed = make_cycle(session, sequence=0)
    for name, count in (("A", 6), ("B", 2), ("C", 9)):
        _answer_all(session, closed, teams[name], count, comment="more focus time")
    opened = make_cycle(session, sequence=1, closed=False)
    for name in ("A", "B", "C"):
        invite(session, cycle_id=opened.id, team_id=teams[name].id, count=6)
    admin = Person(email="admin@audit.test", name="Admin")
    leader = Person(email=LEADER, name="Leader of D")
    session.add_all([admin, leader])
    session.flush()
    session.add(RoleGrant(person_id=admin.id, role="admin"))
    session.add(RoleGrant(person_id=leader.id, role="leader", team_id=teams["D"].id))
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    session.close()
    yield teams


def _figure(output: str, label: str) -> int:
    found = re.search(rf"{label}:\s+(\d+)", output)
    assert found is not None, output
    return int(found.group(1))


@BOTH
def test_the_audit_prints_its_figures_and_passes(pulse: Run, small_org: dict[str, Team]) -> None:
    result = pulse("audit", "disclosure")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert _figure(out, "Roles audited") == 2
    assert _figure(out, "Cycles") == 2
    assert _figure(out, "Published figures") > 0
    assert re.search(r"Published figures:\s+\d+ exact, \d+ inexact", out)
    assert _figure(out, "Hidden quantities checked") > 0
    assert _figure(out, "Determined hidden quantities") == 0
    assert "PASSED" in out

    result = pulse("audit", "disclosure", "--role-of", LEADER.upper())
    assert result.returncode == 0, result.stdout + result.stderr
    assert _figure(result.stdout, "Roles audited") == 1


@BOTH
def test_an_unknown_email_is_a_usage_error(pulse: Run, small_org: dict[str, Team]) -> None:
    result = pulse("audit", "disclosure", "--role-of", "nobody@audit.test")
    assert result.returncode == 2
    assert "nobody has the email 'nobody@audit.test'" in result.stderr
    assert "--role-of" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _primary_only(groups: list[GroupCount], k: int, *, also: object = ()) -> set[GroupId]:
    """Suppression without its complementary half: what the audit exists to catch."""
    return {g for g, total in group_totals(groups).items() if total < k}


@BOTH
def test_a_product_without_complementary_hiding_fails_the_audit(
    database_url: str,
    session: Session,
    small_org: dict[str, Team],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(suppression, "suppress_tree", _primary_only)
    suppression._hidden.cache_clear()
    try:
        # The flags are decided when aggregating: rebuild them the broken way.
        rebuild_all(session, threshold=5)
        session.commit()
        session.close()
        result = CliRunner().invoke(
            main, ["audit", "disclosure"], env=_environment(database_url), catch_exceptions=False
        )
    finally:
        suppression._hidden.cache_clear()
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output
    # D minus A is B: its scores, answers, counts and comments.
    assert "theme scores: Psychological safety, group 'B'" in result.output
    assert "participation: number who answered, group 'B'" in result.output
    assert _figure(result.output, "Determined hidden quantities") > 0
