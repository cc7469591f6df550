"""The built wheel works without the source tree: migrate, seed the demo, aggregate.

The wheel is built from a copy of the tree and installed into a fresh virtual environment in
a temporary directory, and every command runs there, so nothing can come from the checkout.
The fresh environment borrows the dependencies already installed for the tests (a path line
in a .pth file, which adds their directory but runs none of its .pth files, so the checkout's
editable install stays out); the project itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "pulse", "webapp", "dashboard", "worker", "migrations"]


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv with the wheel of this tree installed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy(path, source / name)
    dist = root / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=root)
    shutil.rmtree(source)
    (wheel,) = dist.glob("team_pulse-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    fresh_python = venv / "bin" / "python"
    purelib = _run(
        fresh_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=root
    ).strip()
    (Path(purelib) / "_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", fresh_python]
    _run(*pip, "install", "--no-deps", "--no-index", "-q", wheel, cwd=root)
    return venv / "bin"


def test_the_installed_wheel_migrates_seeds_and_aggregates(installed: Path, tmp_path: Path) -> None:
    env = {
        "PATH": f"{installed}:{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "PULSE_ENV": "development",
        "PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'pulse.db'}",
    }
    where = _run(
        installed / "python", "-c", "import pulse; print(pulse.__file__)", cwd=tmp_path, env=env
    )
    assert where.startswith(str(installed.parent)) and str(ROOT) not in where
    pulse = installed / "pulse"
    _run(pulse, "db", "upgrade", cwd=tmp_path, env=env)
    assert "created" in _run(pulse, "demo", cwd=tmp_path, env=env)
    assert "Rebuilt the aggregates of" in _run(pulse, "aggregate", "--all", cwd=tmp_path, env=env)
