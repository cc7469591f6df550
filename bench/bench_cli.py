"""CLI start-up: `pulse --help` and light commands, as a ratio to `python -c pass`.

Each command runs in a fresh interpreter (as a user runs it), several times; the figure is the
median wall time, and the ratio is against the median of `python -c pass` on the same
interpreter, so the machine's speed cancels out. Goal: ≤ 5×. Also lists which heavy libraries
(Dash, scipy, Celery, scikit-learn, Flask, SQLAlchemy) the command imported: they are what
made it slow.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 5
GOAL = 5.0
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "pulse --help": ["-m", "pulse", "--help"],
    "pulse db --help": ["-m", "pulse", "db", "--help"],
    "pulse users --help": ["-m", "pulse", "users", "--help"],
}
HEAVY = ("dash", "scipy", "celery", "sklearn", "flask", "sqlalchemy")
MARK = "heavy-imports:"


def _median_seconds(args: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    if args[0] == "-c":
        return []
    probe = (
        "import runpy, sys; sys.argv = ['pulse', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('pulse', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print({MARK!r} + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args[2:]], env=env, capture_output=True, text=True
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith(MARK)]
    if not lines:
        raise RuntimeError(f"the probe of {args} printed no result:\n{done.stderr}")
    return [m for m in lines[-1].removeprefix(MARK).split(",") if m]


def main() -> None:
    env = dict(os.environ)
    env.setdefault("PULSE_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    base = _median_seconds(COMMANDS["python -c pass"], env)
    print(f"{'command':<24} {'median':>8} {'ratio':>7}  heavy imports")
    for name, args in COMMANDS.items():
        seconds = base if name == "python -c pass" else _median_seconds(args, env)
        ratio = seconds / base
        heavy = ", ".join(_heavy_imports(args, env)) or "-"
        flag = "" if ratio <= GOAL else f"  (goal ≤ {GOAL:g}×)"
        print(f"{name:<24} {seconds * 1000:>6.0f}ms {ratio:>6.1f}×  {heavy}{flag}")


if __name__ == "__main__":
    main()
