"""The domain core stays independent of the doors: pulse/ imports no Flask, Dash or Celery."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PULSE = Path(__file__).resolve().parent.parent / "pulse"
FORBIDDEN = (
    "flask",
    "flask_login",
    "flask_wtf",
    "flask_limiter",
    "dash",
    "celery",
    "kombu",
    "webapp",
    "dashboard",
    "worker",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_pulse_module_imports_a_door_or_framework() -> None:
    files = sorted(PULSE.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        str(path.relative_to(PULSE)): sorted(imported_modules(path) & set(FORBIDDEN))
        for path in files
        if imported_modules(path) & set(FORBIDDEN)
    }
    assert offenders == {}


def test_importing_every_pulse_module_loads_no_framework() -> None:
    modules = [
        "pulse." + ".".join(path.relative_to(PULSE).with_suffix("").parts)
        for path in sorted(PULSE.rglob("*.py"))
        if path.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PULSE.parent
    )
    assert result.stdout.strip() == ""
