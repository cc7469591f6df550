"""The child processes of `pulse run`: started in groups of their own, stopped for certain.

Each child (the web server, the worker) leads a process group of its own, so a terminal's
Ctrl-C reaches `pulse run` alone, and `pulse run` stops each child exactly once, in order:
SIGTERM to the group, a bounded wait, then SIGKILL to whatever of the group is left (a stuck
gunicorn master, or a worker process whose master is gone). With the children in the
terminal's group, Ctrl-C signalled them directly while `pulse run` sent SIGTERM on top; a
gunicorn master was left in 2 of about 10 runs, orphaned and holding its port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before it runs: SIGTERM it if `pulse run` itself dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """Named child processes, each the leader of its own process group."""

    def __init__(self, announce: Callable[[str], None] = lambda _: None) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.announce = announce

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # preexec_fn is unsafe only in a threaded parent; `pulse run` starts no threads.
            preexec_fn=_die_with_parent,
        )
        self.processes[name] = process
        return process

    def exited(self) -> tuple[str, int] | None:
        """The first child found exited, with its exit code; None while all run."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, timeout: float = 10.0) -> list[str]:
        """SIGTERM every group, wait up to `timeout` s, then SIGKILL what is left.

        Returns the names of the children that had to be killed.
        """
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = []
        for name, process in self.processes.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.announce(f"{name} did not stop within {timeout:g} s; killing it")
                killed.append(name)
            # The leader may be gone with members of its group still running: end them too.
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        return killed


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # The group's id is the leader's pid, and it lives as long as any member does; once the
    # leader is reaped its pid could in principle be reused, so a reaped leader whose group is
    # empty raises here and is skipped.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
