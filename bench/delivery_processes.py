"""The processes of the delivery scale bench: SMTP sink processes and Celery worker processes.

Each is started as a real subprocess (bench.smtp_sink, bench.delivery_worker), stopped by
its PID, and measured with psutil: CPU seconds of a process and of its children.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from bench.smtp_sink import read_counts

# Each worker imports the whole app: on a busy shared machine that took minutes for four.
START_TIMEOUT = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of a process and of its children, reaped ones included."""
    try:
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except psutil.NoSuchProcess:
                pass
        return float(total)
    except psutil.NoSuchProcess:
        return 0.0


class Sink:
    """`processes` bench.smtp_sink processes sharing one port; counts read when they stop."""

    def __init__(self, directory: Path, delay: float = 0.0, processes: int = 1) -> None:
        self.port = _free_port()
        self.outs = [directory / f"sink-{self.port}-{i}.json" for i in range(processes)]
        self.processes = [
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "bench.smtp_sink", "--port", str(self.port)),
                    *("--out", str(out), "--delay", str(delay), "--reuse-port"),
                ],
                stdin=subprocess.DEVNULL,
            )
            for out in self.outs
        ]
        deadline = time.monotonic() + 60
        try:
            while not all(out.exists() for out in self.outs):
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    raise RuntimeError("the SMTP sink did not start")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        self.handles = [psutil.Process(p.pid) for p in self.processes]

    def cpu(self) -> float:
        return sum(cpu_seconds(handle) for handle in self.handles)

    def stop(self) -> tuple[list[int], dict[str, int]]:
        """Stop the sink: (messages per sink process, recipient → messages)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shares: list[int] = []
        counts: Counter[str] = Counter()
        for out in self.outs:
            if out.exists():
                messages, _, found = read_counts(out)
                shares.append(messages)
                counts.update(found)
        return shares, dict(counts)


class Workers:
    """`count` worker processes, each a `celery worker --pool solo`, ready to consume."""

    def __init__(self, directory: Path, count: int, env: dict[str, str]) -> None:
        ready = Path(tempfile.mkdtemp(prefix="ready-", dir=directory))
        self.log = ready.with_suffix(".log")
        with self.log.open("ab") as log:
            # Celery's banner goes to stdout; warnings and errors to the log, shown on failure.
            self.processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "bench.delivery_worker", str(ready)],
                    env={**os.environ, **env},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
                for _ in range(count)
            ]
        try:
            self._wait_ready(ready, count)
        except BaseException:
            self.stop()
            raise
        self.handles = [psutil.Process(p.pid) for p in self.processes]
        self.last = [0.0] * count

    def _wait_ready(self, ready: Path, count: int) -> None:
        # Each worker imports the whole app (about 10 CPU seconds on a busy shared machine).
        deadline = time.monotonic() + START_TIMEOUT
        while len(list(ready.iterdir())) < count:
            exited = [p.returncode for p in self.processes if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                reason = f"exited ({exited})" if exited else f"not ready in {START_TIMEOUT:.0f}s"
                raise RuntimeError(
                    f"the Celery workers did not all start: {reason}\n"
                    + (self.log.read_text(errors="replace")[-3000:])
                )
            time.sleep(0.1)

    def errors(self) -> str:
        """The workers' log lines that are neither Celery's root warning nor its shutdown."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if "ERROR" in line or "Traceback" in line)

    def cpu(self) -> float:
        """CPU seconds of the workers; a killed one keeps what it had used when last read."""
        for index, handle in enumerate(self.handles):
            try:
                alive = handle.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                alive = False
            if alive:
                self.last[index] = cpu_seconds(handle) or self.last[index]
        return sum(self.last)

    def kill(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
