"""`pulse report comments` prints what a leader of the team sees (issue 18), as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from tests.pulse.test_comments import MASKED, MEETINGS, SAID, _comment, _person, _rebuilt
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.support.answers import set_thresholds


def _pulse(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
        "PULSE_ENV": "development",
    }
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )


def test_report_comments_prints_masked_comments_and_themes_at_k(
    session: Session, database_url: str
) -> None:
    teams = make_tree(
        session, {"Four": ("D1", 0), "Five": ("D1", 0), "Nine": ("D1", 0), "Exact": ("D2", 0)}
    )
    _person(session, "Sam Okafor", "sam@corp.example")
    set_thresholds(session, scores=3, comments=5)
    cycle = make_cycle(session)
    for name, count in (("Four", 4), ("Five", 5), ("Nine", 9), ("Exact", 5)):
        _answer_all(session, cycle, teams[name], count)
    for team, count in (("Four", 4), ("Exact", 5)):
        for i in range(count):
            _comment(session, cycle, teams[team], SAID if i == 0 else MEETINGS[i])
    opened = cycle.opens_at.date().isoformat()
    _rebuilt(session)

    exact = _pulse(database_url, "report", "comments", "--team", "Exact", "--format", "json")
    assert exact.returncode == 0, exact.stderr
    shown = json.loads(exact.stdout)
    assert shown["cycle"] == opened and shown["comments_threshold"] == 5
    texts = {c["text"] for c in shown["comments"]}
    assert MASKED in texts and len(texts) == 5
    assert "Okafor" not in exact.stdout and "7946" not in exact.stdout
    assert all(theme["comments"] >= 5 for theme in shown["themes"])

    four = _pulse(database_url, "report", "comments", "--team", "Four", "--cycle", opened)
    assert four.returncode == 0, four.stderr
    hidden = json.loads(four.stdout)
    assert hidden["comments"] == [] and hidden["themes"] == [] and "at least 5" in hidden["notice"]

    unknown = _pulse(database_url, "report", "comments", "--team", "Nobody")
    assert unknown.returncode != 0 and "no team named" in unknown.stderr
