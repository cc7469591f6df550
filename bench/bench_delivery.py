"""Delivery benchmarks: answer submits against a bare INSERT, and invitation dispatch vs smtplib.

1. Submits: gunicorn (the same server and settings for both endpoints) serves the app on
   127.0.0.1; 32 concurrent keep-alive connections (4 client processes × 8 threads) POST
   answer forms with distinct links, and POST to a bare endpoint doing one INSERT, for 10 s
   each, in five alternating 2 s windows so that load from elsewhere on the machine falls on
   both alike. The clients send prebuilt requests on raw sockets, so the load generator
   takes little of the two cores it shares with the server. Throughput and p99 on SQLite
   and PostgreSQL; goal ≥ 0.5× the bare endpoint.
2. Dispatch: 5,000 invitations through `send_invitations` (claim, render, send, commit per
   message) to a local aiosmtpd server, against raw smtplib sending 5,000 prebuilt messages
   over one connection to the same server. Goal ≥ 0.5×.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from multiprocessing.pool import Pool
from pathlib import Path

from sqlalchemy import insert, select, text, update

from pulse.config import Settings
from pulse.db import make_engine, make_session_factory
from pulse.delivery.mail import MailMessage, build_email
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.sending import send_invitations
from pulse.delivery.tokens import new_token, token_hash
from pulse.migrate import upgrade
from pulse.people.models import Person
from pulse.surveys.bank import sync_item_bank
from pulse.surveys.models import Cycle
from pulse.surveys.scheduler import tick
from pulse.surveys.schedules import ScheduleSpec, create_schedule
from pulse.teams.models import Membership, Team

DURATION = float(os.environ.get("BENCH_DELIVERY_SECONDS", "10"))
WARMUP = 2.0  # untimed load on each endpoint first: workers booted, templates and SQL compiled
ROUNDS = 5
# The client processes are started once and kept; each window only hands them a job, so this
# is ample time to connect 32 sockets and build the requests before the window opens.
SETUP_SECONDS = 1.0
# A thread that reaches the start of the window later than this (a starved machine) would
# leave its connection idle for part of the window: the run stops rather than report it.
LATE_SECONDS = 0.1
PROCESSES, THREADS = 4, 8  # 32 connections
WORKERS = 4  # gunicorn workers × 8 threads
PEOPLE = int(os.environ.get("BENCH_DELIVERY_PEOPLE", "5000"))
# Enough links that no connection runs out of unanswered ones: every measured submit is a
# first submit (checked after the run against the responses stored).
SUBMIT_PEOPLE = int(os.environ.get("BENCH_SUBMIT_PEOPLE", "30000"))
OPENS = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a Monday
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": extra.pop("redis_url", "redis://127.0.0.1:1/0"),
        "PULSE_SECRET_KEY": SECRET,
        "PULSE_MAIL_BACKEND": "outbox",
        "PULSE_DEV_OUTBOX": "false",
        **extra,
    }


def prepare(database_url: str, people: int) -> int:
    """A migrated database with one team of `people` and an open cycle; returns its id."""
    engine = make_engine(database_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        sync_item_bank(session)
        org = Team(name="Bench Org", kind="organisation")
        session.add(org)
        session.flush()
        team = Team(name="Bench Team", kind="team", parent_id=org.id)
        session.add(team)
        session.flush()
        session.execute(
            insert(Person),
            [{"email": f"p{i}@bench.example.org", "name": f"Person {i}"} for i in range(people)],
        )
        ids = session.scalars(select(Person.id)).all()
        session.execute(
            insert(Membership),
            [{"person_id": i, "team_id": team.id, "started_on": date(2020, 1, 1)} for i in ids],
        )
        create_schedule(
            session,
            spec=ScheduleSpec(
                name="Bench",
                cadence="weekly",
                timezone="UTC",
                window_days=7,
                start_date=OPENS.date(),
                target_team_ids=[org.id],
            ),
        )
        report = tick(session, now=OPENS)
        session.execute(text("CREATE TABLE bench_inserts (id VARCHAR(32) PRIMARY KEY)"))
        session.commit()
    engine.dispose()
    (cycle_id,) = report.opened_cycle_ids
    return cycle_id


def issue_tokens(database_url: str, cycle_id: int) -> list[str]:
    """Give every invitation a link, as sending would (without the email)."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        ids = session.scalars(select(Invitation.id).where(Invitation.cycle_id == cycle_id)).all()
        tokens = {i: new_token() for i in ids}
        session.execute(update(Invitation), [{"id": i, "delivery_state": "sent"} for i in tokens])
        session.execute(
            insert(InvitationLink),
            [{"invitation_id": i, "token_hash": token_hash(t)} for i, t in tokens.items()],
        )
        items = session.scalars(select(Cycle).where(Cycle.id == cycle_id)).one().items
        item_ids = [ci.item_id for ci in items]
        session.commit()
    engine.dispose()
    os.environ["BENCH_ITEM_IDS"] = ",".join(map(str, item_ids))
    return list(tokens.values())


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--threads",
            "8",
            "--log-level",
            "warning",
            "bench.delivery_wsgi:app",
        ],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # The master listens before its workers have imported the app, and a connection that
        # reaches a booting worker waits for it: measure only once every worker has answered.
        deadline = time.monotonic() + 120
        seen: set[str] = set()
        while len(seen) < WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start all its workers")
            try:
                with urllib.request.urlopen(f"{base}/bench/pid", timeout=2) as reply:
                    seen.add(reply.read().decode())
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


def _client_ready() -> None:
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
    if kind == "submit":
        requests = [_post(host, f"/s/{token}", body) for token in tokens]
    else:
        requests = [_post(host, "/bench/insert", b"")]
    expected = 303 if kind == "submit" else 200
    supply = itertools.count()  # next() on it is atomic: each index goes to one thread
    ran_out = threading.Event()

    def next_request() -> bytes | None:
        if kind != "submit":
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
    duration: float = DURATION,
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


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)] * 1000 if ordered else 0.0


def bench_submits(label: str, database_url: str, redis_url: str) -> None:
    cycle_id = prepare(database_url, SUBMIT_PEOPLE)
    tokens = issue_tokens(database_url, cycle_id)
    item_ids = [int(i) for i in os.environ["BENCH_ITEM_IDS"].split(",")]
    # The warm-up submits use links of their own, so the measured ones are first submits too.
    warm, measured = tokens[: len(tokens) // 5], tokens[len(tokens) // 5 :]
    # The two endpoints take turns, ROUNDS windows each adding up to DURATION, so a change of
    # load elsewhere on a shared machine falls on both alike rather than on one phase.
    window = DURATION / ROUNDS
    done = {"submit": 0, "insert": 0}
    latencies: dict[str, list[float]] = {"submit": [], "insert": []}
    failures = {"submit": 0, "insert": 0}
    with (
        gunicorn(_env(database_url, redis_url=redis_url)) as base,
        multiprocessing.get_context("spawn").Pool(PROCESSES, initializer=_client_ready) as pool,
    ):
        warm_count, _, warm_failed = load(
            pool, base, "submit", warm, item_ids, WARMUP, strict=False
        )
        load(pool, base, "insert", warm, item_ids, WARMUP, strict=False)
        for round_ in range(ROUNDS):
            # Each round hands the submits the next slice of links: still first submits.
            part = measured[round_::ROUNDS]
            for kind in ("submit", "insert"):
                count, taken, failed = load(pool, base, kind, part, item_ids, window)
                done[kind] += count
                latencies[kind].extend(taken)
                failures[kind] += failed
    # Each successful first submit stores one response; a revision would store none.
    engine = make_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT COUNT(*) FROM responses")).scalar_one()
    engine.dispose()
    submitted = warm_count - warm_failed + done["submit"] - failures["submit"]
    if stored != submitted:
        raise RuntimeError(
            f"{submitted} submits succeeded but {stored} responses are stored: some links were "
            "submitted twice (raise BENCH_SUBMIT_PEOPLE)"
        )
    ours, bare = done["submit"] / DURATION, done["insert"] / DURATION
    print(
        f"[{label}] submit {ours:.0f}/s p99 {_p99(latencies['submit']):.0f} ms "
        f"({failures['submit']} failed) | bare INSERT {bare:.0f}/s p99 "
        f"{_p99(latencies['insert']):.0f} ms ({failures['insert']} failed) | ratio "
        f"{ours / bare:.2f}× (goal ≥ 0.5×; {ROUNDS} alternating windows of {window:.0f} s each)",
        flush=True,
    )


def bench_dispatch(label: str, database_url: str) -> None:
    from tests.support.smtp import SMTPServer

    cycle_id = prepare(database_url, PEOPLE)
    server = SMTPServer().start()
    try:
        settings = Settings.from_env(
            _env(
                database_url,
                PULSE_MAIL_BACKEND="smtp",
                PULSE_SMTP_HOST="127.0.0.1",
                PULSE_SMTP_PORT=str(server.port),
                PULSE_SMTP_TLS="false",
            )
        )
        engine = make_engine(database_url)
        with make_session_factory(engine)() as session:
            started = time.perf_counter()
            report = send_invitations(session, settings=settings, cycle_id=cycle_id, now=OPENS)
            ours = time.perf_counter() - started
        engine.dispose()
        assert report.sent == PEOPLE, report
        received = len(server.mailbox.messages)
        server.mailbox.clear()
        sample = MailMessage(
            to="p0@bench.example.org", subject="Team pulse", text="x" * 1500, html="<p>x</p>" * 300
        )
        messages = [
            build_email(
                MailMessage(f"p{i}@bench.example.org", sample.subject, sample.text, sample.html),
                sender=settings.mail_from,
            )
            for i in range(PEOPLE)
        ]
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", server.port) as connection:
            for message in messages:
                connection.send_message(message)
        raw = time.perf_counter() - started
    finally:
        server.stop()
    print(
        f"[{label}] dispatch {PEOPLE} invitations: {ours:.1f}s ({PEOPLE / ours:.0f}/s, "
        f"{received} received) | raw smtplib {raw:.1f}s ({PEOPLE / raw:.0f}/s) | ratio "
        f"{raw / ours:.2f}× (goal ≥ 0.5×)",
        flush=True,
    )


def main() -> None:
    # The in-process SMTP server logs every command at INFO: keep the figures readable.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    from bench.bench_aggregation import postgres
    from worker.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="pulse-bench-delivery-") as directory:
        redis = EmbeddedRedis(Path(directory)).start()
        try:
            bench_submits("sqlite", f"sqlite:///{Path(directory) / 'submit.db'}", redis.url)
            bench_dispatch("sqlite", f"sqlite:///{Path(directory) / 'dispatch.db'}")
            with postgres() as url:
                if url is None:
                    print("[postgresql] skipped: no PostgreSQL (set PULSE_TEST_POSTGRES_URL)")
                else:
                    bench_submits("postgresql", url, redis.url)
            with postgres() as url:
                if url is not None:
                    bench_dispatch("postgresql", url)
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
