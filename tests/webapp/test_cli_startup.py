"""The `pulse` command starts light: help and light commands import only what they use.

Every command line imported the whole web app (Dash, scipy, SCIM, Celery) before doing
anything, so `pulse --help` took about 3 s. Each check runs in a fresh interpreter, as a user
runs the command, and reads which modules it imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from webapp.cli import COMMANDS, load_command, main

HEAVY = ("dash", "scipy", "celery", "sklearn", "flask", "sqlalchemy", "alembic")
MARK = "imported:"


def _imported_by(args: list[str], cwd: Path) -> tuple[str, set[str]]:
    """What `pulse ARGS` printed, and which heavy top-level modules it imported."""
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['pulse', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('pulse', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        f"print({MARK!r} + ','.join(sorted({{m.split('.')[0] for m in sys.modules}})),"
        " file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith(MARK)]
    modules = set(line.removeprefix(MARK).split(","))
    return done.stdout, modules & set(HEAVY)


@pytest.mark.parametrize("args", [["--help"], ["db", "--help"], ["users", "--help"]])
def test_help_imports_no_framework(args: list[str], tmp_path: Path) -> None:
    output, heavy = _imported_by(args, tmp_path)
    assert output.startswith("Usage: pulse")
    assert heavy == set()


def test_a_subcommand_loads_only_its_own_module(tmp_path: Path) -> None:
    # `pulse db upgrade --help` needs the db commands, not the reports or the server.
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['pulse', 'db', 'upgrade', '--help']\n"
        "try:\n    runpy.run_module('pulse', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('webapp.cli.')), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Apply every pending migration" in done.stdout
    loaded = done.stderr.strip().splitlines()[-1]
    assert loaded == "['webapp.cli.context', 'webapp.cli.database']"


def test_the_listing_shows_each_commands_own_summary() -> None:
    """`pulse --help` reads summaries from a table, not the commands: they must agree."""
    listed = main.list_commands(click.Context(main))
    assert listed == sorted(COMMANDS)
    for name in listed:
        command = load_command(name)
        assert command.name == name
        own = (command.short_help or command.help or "").split("\n\n")[0].replace("\n", " ")
        assert COMMANDS[name][1] == own.strip(), name


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pulse", "frobnicate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "No such command 'frobnicate'" in done.stderr
