"""`pulse demo`, `pulse aggregate --all` and `pulse report export`, run as real processes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pulse.demo import TEAMS

Run = Callable[..., subprocess.CompletedProcess[str]]
K = 5


@pytest.fixture
def pulse(database_url: str, tmp_path: Path) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
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
            timeout=600,
        )

    return run


HONEST_STATES = {
    "fewer than 5 responses",
    "hidden so that a smaller group stays anonymous",
    "results when the cycle closes",
    *(
        f"too small to report on its own; its answers count towards {parent}"
        for parent in ("Engineering", "Operations", "Product & Design", "Northwind Labs")
    ),
}


def _nothing_recoverable(rows: list[dict[str, Any]]) -> None:
    """For each visible parent, parent n − Σ visible children n is 0 or at least k."""
    shown = defaultdict(dict)  # (cycle, theme) → team → n
    children = defaultdict(set)  # team → child names
    for row in rows:
        if row["parent"]:
            children[row["parent"]].add(row["team"])
        if not row["suppressed"]:
            shown[(row["cycle"], row["theme"])][row["team"]] = row["n"]
    checked = 0
    for figures in shown.values():
        for parent, n in figures.items():
            residual = n - sum(figures.get(child, 0) for child in children[parent])
            assert residual == 0 or residual >= K, (parent, n, residual)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_demo_aggregate_export_hides_small_teams(pulse: Run) -> None:
    assert pulse("demo").returncode == 0
    result = pulse("aggregate", "--all")
    assert result.returncode == 0, result.stderr
    assert "Rebuilt the aggregates of 27 cycles." in result.stdout
    result = pulse("report", "export", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and {
        "team",
        "parent",
        "cycle",
        "theme",
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "favourable_pct",
        "change",
        "suppressed",
    } <= set(rows[0])
    for small in ("Mobile", "Research", "Finance"):
        mine = [r for r in rows if r["team"] == small]
        assert mine and all(r["suppressed"] for r in mine)
    for row in rows:
        if row["suppressed"]:
            assert row["n"] is None and row["mean"] is None and row["ci_low"] is None
            assert row["change"] is None and row["reason"] in HONEST_STATES, row["reason"]
        else:
            assert row["n"] >= K and round(row["mean"], 1) == row["mean"]
    assert any(not r["suppressed"] and r["parent"] is None for r in rows)
    _nothing_recoverable(rows)


def test_export_csv_filters_by_team_and_date(pulse: Run) -> None:
    assert pulse("demo").returncode == 0
    result = pulse(
        "report", "export", "--format", "csv", "--team", "Engineering", "--since", "2026-06-01"
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    engineering = {spec.name for spec in TEAMS if spec.department == "Engineering"}
    assert rows and {r["team"] for r in rows} <= engineering | {"Engineering"}
    assert all(r["cycle"] >= "2026-06-01" for r in rows)
    result = pulse("report", "export", "--team", "Nowhere")
    assert result.returncode == 1 and "no team named 'Nowhere'" in result.stderr
    result = pulse("report", "export", "--since", "yesterday")
    assert result.returncode == 2


def test_aggregate_without_all_drains_dirty_marks(pulse: Run) -> None:
    result = pulse("aggregate")
    assert result.returncode == 0, result.stderr
    assert "Aggregated 0 team × cycles marked dirty." in result.stdout
