"""`pulse run` stops every process it started: SIGTERM, a bounded wait, then SIGKILL.

Ctrl-C in a terminal signals the whole foreground process group. A gunicorn master was left
running in 2 of about 10 such stops, orphaned and holding its port. The children now lead
groups of their own, and `pulse run` stops each group itself, once, escalating to SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from webapp.cli.processes import Children

BOUND = 120.0  # seconds: a failure bound, never a speed claim


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def wait_until_gone(pids: list[int], bound: float = BOUND) -> list[int]:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """PIDs this test started; any still alive at the end are killed (and the test failed)."""
    started: list[int] = []
    yield started
    for pid in started:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(grandchild.pid, flush=True)
time.sleep(600)
"""


def test_a_child_deaf_to_sigterm_is_killed_with_its_whole_group(cleanup: list[int]) -> None:
    children = Children()
    process = children.spawn("stubborn", [sys.executable, "-c", STUBBORN], dict(os.environ))
    cleanup.append(process.pid)
    deadline = time.monotonic() + BOUND
    while not descendants(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    (grandchild,) = descendants(process.pid)
    cleanup.append(grandchild)

    assert children.stop(timeout=1.0) == ["stubborn"]
    assert process.returncode == -signal.SIGKILL
    assert wait_until_gone([process.pid, grandchild]) == []


def test_members_left_behind_by_an_exited_leader_are_ended(cleanup: list[int]) -> None:
    # A master that died first leaves its workers running in its group.
    leader = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(p.pid, flush=True)\n"
    )
    children = Children()
    process = children.spawn("master", [sys.executable, "-c", leader], dict(os.environ))
    process.wait(BOUND)
    members = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _alive(int(p.name)) and _pgid(int(p.name)) == process.pid
    ]
    cleanup.extend(members)
    assert members, "the leader's child should still be running in its group"
    assert children.exited() == ("master", 0)

    children.stop(timeout=1.0)
    assert wait_until_gone(members) == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _healthy(port: int) -> bool:
    """The web app answers (a worker has loaded it), as when someone presses Ctrl-C."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_ctrl_c_to_the_process_group_stops_everything_and_frees_the_port(
    tmp_path: Path, cleanup: list[int]
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PULSE_ENV": "development",
        "PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'pulse.db'}",
    }
    for name in ("PULSE_REDIS_URL", "PULSE_BASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    console = tmp_path / "console.txt"
    with console.open("wb") as out:
        # A session of its own stands for the terminal's foreground process group.
        run = subprocess.Popen(
            [sys.executable, "-m", "pulse", "run", "--no-demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        cleanup.append(run.pid)
        deadline = time.monotonic() + BOUND
        while not _healthy(port) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _healthy(port), console.read_text()
        tree = descendants(run.pid)
        cleanup.extend(tree)
        assert len(tree) >= 4  # redis, the worker (with its pool), gunicorn master and worker

        os.killpg(run.pid, signal.SIGINT)
        assert run.wait(BOUND) == 0, console.read_text()
    left = wait_until_gone(tree)
    assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]
    assert not _port_open(port), console.read_text()
    with socket.socket() as again:
        # As a server rebinds (connections closed moments ago may linger in TIME_WAIT): it
        # still fails while any process listens on the port.
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()
    text = console.read_text()
    assert f"Team Pulse is running at http://127.0.0.1:{port}/" in text
    assert text.rstrip().endswith("Stopped.")
    # (Under a heavy load a child may need the SIGKILL; what matters is that none is left.)
    # The console shows the URL and errors: no INFO lines (alembic printed a screenful).
    assert [line for line in text.splitlines() if " INFO " in line] == []
    # Ctrl-C reaches `pulse run` alone: Redis is stopped after the worker, so the worker never
    # loses its broker while it shuts down (that printed screens of tracebacks).
    assert "Traceback" not in text and "Connection to broker lost" not in text, text
