"""`python -m pulse` runs the command line, from any directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_dash_m_pulse_shows_the_commands(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pulse", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: pulse ")
    for command in ("run", "db", "demo", "aggregate"):
        assert f"  {command} " in done.stdout
