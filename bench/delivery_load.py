"""The submit bench's load generator: 32 keep-alive connections sending prebuilt requests.

The load generator shares the two cores with the server, so it must cost as little as
possible and the same for every endpoint: requests are built as bytes before the window
opens, sent on raw sockets, and only the status line and Content-Length of each reply read.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from multiprocessing.pool import Pool

# The client processes are started once and kept; each window only hands them a job, so this
# is ample time to connect 32 sockets and build the requests before the window opens.
SETUP_SECONDS = 1.0
# A thread that reaches the start of the window later than this (a starved machine) would
# leave its connection idle for part of the window: the run stops rather than report it.
LATE_SECONDS = 0.1
PROCESSES, THREADS = 4, 8  # 32 connections
# The kinds of load that post answer forms to /s/<token>, each with links of its own.
SUBMIT_KINDS = ("submit", "same_writes")


def _exchange(sock: socket.socket, request: bytes, buffer: bytearray) -> int:
    """Send one prebuilt HTTP/1.1 request on a keep-alive socket; the reply's status code."""
    sock.sendall(request)
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head = bytes(buffer[:end]).lower()
    if b"transfer-encoding: chunked" in head:
        raise ValueError("chunked replies are not expected from these endpoints")
    found = _CONTENT_LENGTH.search(head)
    total = end + 4 + (int(found.group(1)) if found else 0)
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    del buffer[:total]
    return int(head[9:12])


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)")


def _post(host: str, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def client_ready() -> None:
    """Run as each client process starts: importing this module there is the slow part."""


def _client(
    args: tuple[str, str, list[str], list[int], float, float, bool],
) -> tuple[int, int, list[float]]:
    # The load generator shares the two cores with the server, so it must cost as little
    # as possible and the same for both endpoints: every request is built as bytes before
    # the window opens, sent on a raw keep-alive socket, and only the status line and
    # Content-Length of the reply are read. An HTTP client library would spend more CPU
    # per request than the bare endpoint does, and more on the longer form posts.
    base, kind, tokens, item_ids, start_at, duration, strict = args
    host = base.removeprefix("http://")
    address, port = host.rsplit(":", 1)
    body = "&".join(f"item-{i}=4" for i in item_ids).encode()
    latencies: list[float] = []
    failures = 0
    late: list[float] = []
    lock = threading.Lock()
    # Every thread of every process measures the same wall-clock window; connection set-up
    # happens before it, so it neither counts nor eats into it.
    deadline = start_at + duration

    def connect() -> socket.socket:
        sock = socket.create_connection((address, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    # The process's threads draw the next link from one shared supply: connections are not
    # served evenly (gunicorn's workers take unequal shares of them), so a fixed share per
    # thread could run out on a fast connection and send a link twice, a revision rather
    # than a first submit. A supply that runs out stops the run instead.
    # "submit" (the app) and "same_writes" (its bare ceiling) take the same answer form on
    # the same URL, one link each; "insert" (bare one-INSERT) takes one empty POST.
    submits = kind in SUBMIT_KINDS
    if submits:
        requests = [_post(host, f"/s/{token}", body) for token in tokens]
    else:
        requests = [_post(host, "/bench/insert", b"")]
    expected = 303 if submits else 200
    supply = itertools.count()  # next() on it is atomic: each index goes to one thread
    ran_out = threading.Event()

    def next_request() -> bytes | None:
        if not submits:
            return requests[0]
        index = next(supply)
        if index < len(requests):
            return requests[index]
        ran_out.set()
        return None

    def run() -> None:
        nonlocal failures
        sock, buffer = connect(), bytearray()
        if time.time() > start_at + LATE_SECONDS:
            late.append(time.time() - start_at)
        time.sleep(max(0.0, start_at - time.time()))
        mine: list[float] = []
        bad = 0
        while time.time() < deadline and (request := next_request()) is not None:
            started = time.perf_counter()
            try:
                ok = _exchange(sock, request, buffer) == expected
            except (ConnectionError, OSError):
                ok = False
                sock.close()
                sock, buffer = connect(), bytearray()
            mine.append(time.perf_counter() - started)
            bad += not ok
        sock.close()
        with lock:
            latencies.extend(mine)
            failures += bad

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if ran_out.is_set():
        raise RuntimeError(
            f"a load process used all its {len(requests)} links within a window: "
            "raise BENCH_SUBMIT_PEOPLE"
        )
    if late and strict:
        raise RuntimeError(
            f"{len(late)} load threads connected up to {max(late):.2f} s after their window "
            "opened: the machine is too busy for a fair measurement"
        )
    return len(latencies), failures, latencies


def load(
    pool: Pool,
    base: str,
    kind: str,
    tokens: list[str],
    item_ids: list[int],
    duration: float,
    *,
    strict: bool = True,
) -> tuple[int, list[float], int]:
    """Requests done, their latencies (s) and failures at 32 connections for `duration`.

    Not `strict` (the warm-up): a client process may still be starting when the window opens.
    """
    share = max(len(tokens) // PROCESSES, 1)
    # Leave the client processes time to start and connect before the common window opens.
    start_at = time.time() + SETUP_SECONDS
    jobs = [
        (
            base,
            kind,
            tokens[i * share : (i + 1) * share] or tokens,
            item_ids,
            start_at,
            duration,
            strict,
        )
        for i in range(PROCESSES)
    ]
    results = pool.map(_client, jobs, chunksize=1)
    latencies = [x for _, _, lat in results for x in lat]
    return len(latencies), latencies, sum(f for _, f, _ in results)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)] * 1000 if ordered else 0.0
