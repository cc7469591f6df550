"""Delivery benchmarks: submits against bare Flask ceilings, dispatch, and sending at scale.

`python -m bench delivery [--quick] [--only=submit,dispatch,scale,faults]`

1. Submits: gunicorn serves the Team Pulse app, and a second gunicorn with the same settings
   (4 workers × 8 threads) serves bench.delivery_bare, a bare Flask app (no create_app, no
   extensions, no hooks, no ORM) with two ceilings:
   - the same writes, which carries the goal (ours ≥ 0.5× its throughput): the least work
     that gives a first submit's result. For each posted answer form it reads the link's
     invitation (id, team, cycle) by the token's hash and writes, in one transaction, what
     our submit writes: the response row with its revision key, one row per answer, the
     invitation marked answered and the team marked dirty for aggregation; then the same
     303. Plain SQL on the DBAPI cursor; on PostgreSQL read and writes are one statement.
     It checks nothing our submit checks (open cycle, items, values), which is the app's.
   - one Core INSERT of one uuid row in autocommit, for information: the least a web app
     does to store anything, but not a submit's result (issue #16: a ceiling must be the
     least work that gives the same result, or the ratio says little about our overhead).
   32 concurrent keep-alive connections (4 client processes × 8 threads, bench.delivery_load)
   POST answer forms with distinct links to ours and to the same-writes route (each with
   links of its own, all first submits) and POST to the INSERT route, for 10 s each
   (`--quick`: 5 s), in five alternating windows so that load from elsewhere on the machine
   falls on all three alike. Throughput and p99 on SQLite and PostgreSQL, with both ratios;
   afterwards the rows stored are checked against the submits that succeeded on both sides.
2. Dispatch: 5,000 invitations through `send_invitations` (claim, render, send, commit per
   message) to a local aiosmtpd server, against raw smtplib sending 5,000 prebuilt messages
   over one connection to the same server. Goal ≥ 0.5×.
3. Scale-out and faults (bench.delivery_scale): 50,000 invitations (`--quick`: 5,000) sent by
   1, 2 and 4 real Celery worker processes on PostgreSQL to an SMTP sink in its own process;
   goal ≥ 1.7× from 1 to 2 processes where the machine allows; a SIGKILLed worker and a run
   outlasting its lease, with missing and duplicate emails counted at the sink (goal 0 and 0).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert, select, text, update

from bench.delivery_load import PROCESSES, client_ready, load, p99
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

DURATION = float(os.environ.get("BENCH_DELIVERY_SECONDS", "5" if "--quick" in sys.argv else "10"))
WARMUP = 2.0  # untimed load on each endpoint first: workers booted, templates and SQL compiled
ROUNDS = 5
WORKERS = 4  # gunicorn workers × 8 threads
PEOPLE = int(os.environ.get("BENCH_DELIVERY_PEOPLE", "5000"))
# Enough links that no connection runs out of unanswered ones: every measured submit is a
# first submit (checked after the run against the responses stored). Half are ours, half the
# same-writes ceiling's.
SUBMIT_PEOPLE = int(os.environ.get("BENCH_SUBMIT_PEOPLE", "60000"))
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


def prepare(database_url: str, people: int, opens: datetime = OPENS) -> int:
    """A migrated database with one team of `people` and a cycle opened at `opens`; its id."""
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
                weekday=opens.weekday(),
                local_hour=opens.hour,
                timezone="UTC",
                window_days=7,
                start_date=opens.date(),
                target_team_ids=[org.id],
            ),
        )
        report = tick(session, now=opens)
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
def gunicorn(env: dict[str, str], app: str) -> Iterator[str]:
    """gunicorn serving `app` with the bench's settings; the same for the app and its ceiling."""
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
            # Importing the app takes tens of seconds on a busy shared machine: a worker must
            # not be killed as hung while it boots.
            "--timeout",
            "300",
            app,
        ],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # The master listens before its workers have imported the app, and a connection that
        # reaches a booting worker waits for it: measure only once every worker has answered.
        deadline = time.monotonic() + 600
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


KINDS = ("submit", "same_writes", "insert")  # ours, then its two ceilings


def bench_submits(label: str, database_url: str, redis_url: str) -> None:
    cycle_id = prepare(database_url, SUBMIT_PEOPLE)
    tokens = issue_tokens(database_url, cycle_id)
    item_ids = [int(i) for i in os.environ["BENCH_ITEM_IDS"].split(",")]
    # Ours and the same-writes ceiling each get half the links; of each half, the warm-up
    # takes links of its own, so the measured submits are first submits too.
    halves = {"submit": tokens[: len(tokens) // 2], "same_writes": tokens[len(tokens) // 2 :]}
    warm = {kind: links[: len(links) // 5] for kind, links in halves.items()}
    measured = {kind: links[len(links) // 5 :] for kind, links in halves.items()}
    warm["insert"] = measured["insert"] = []
    # The three endpoints take turns, ROUNDS windows each adding up to DURATION, so a change
    # of load elsewhere on a shared machine falls on all alike rather than on one phase.
    window = DURATION / ROUNDS
    done = dict.fromkeys(KINDS, 0)
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    failures = dict.fromkeys(KINDS, 0)
    succeeded = dict.fromkeys(KINDS, 0)  # warm-up included: every one stored a response
    env = _env(database_url, redis_url=redis_url)
    # Both servers run throughout, each idle while the other is measured.
    with (
        gunicorn(env, "bench.delivery_wsgi:app") as our_app,
        gunicorn(env, "bench.delivery_bare:app") as bare_app,
        multiprocessing.get_context("spawn").Pool(PROCESSES, initializer=client_ready) as pool,
    ):
        base = {"submit": our_app, "same_writes": bare_app, "insert": bare_app}
        for kind in KINDS:
            count, _, failed = load(
                pool, base[kind], kind, warm[kind], item_ids, WARMUP, strict=False
            )
            succeeded[kind] += count - failed
        for round_ in range(ROUNDS):
            for kind in KINDS:
                # Each round hands the submits the next slice of links: still first submits.
                part = measured[kind][round_::ROUNDS]
                count, taken, failed = load(pool, base[kind], kind, part, item_ids, window)
                done[kind] += count
                latencies[kind].extend(taken)
                failures[kind] += failed
                succeeded[kind] += count - failed
    _check_stored(database_url, succeeded["submit"] + succeeded["same_writes"], len(item_ids))
    rate = {kind: done[kind] / DURATION for kind in KINDS}

    def figures(kind: str) -> str:
        return f"{rate[kind]:.0f}/s p99 {p99(latencies[kind]):.0f} ms ({failures[kind]} failed)"

    print(
        f"[{label}] submit {figures('submit')} | bare Flask, same writes "
        f"{figures('same_writes')} | bare Flask, one INSERT {figures('insert')} | ratio "
        f"{rate['submit'] / rate['same_writes']:.2f}× the same writes (goal ≥ 0.5×), "
        f"{rate['submit'] / rate['insert']:.2f}× one INSERT (for information); {ROUNDS} "
        f"alternating windows of {window:.0f} s each",
        flush=True,
    )


def _check_stored(database_url: str, submitted: int, items: int) -> None:
    """Each successful first submit, ours or the ceiling's, stored one response, an answer
    per item and an answered invitation (a revision would store none): else the run lied."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        stored, answers, answered, dirty = connection.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM responses), (SELECT COUNT(*) FROM answers), "
                "(SELECT COUNT(*) FROM invitations WHERE answered), "
                "(SELECT COUNT(*) FROM dirty_team_cycles)"
            )
        ).one()
    engine.dispose()
    if stored != submitted:
        raise RuntimeError(
            f"{submitted} submits succeeded but {stored} responses are stored: some links were "
            "submitted twice (raise BENCH_SUBMIT_PEOPLE)"
        )
    if answers != stored * items or answered != stored or dirty < 1:
        raise RuntimeError(
            f"{stored} responses but {answers} answers (of {items} items each), {answered} "
            f"invitations answered and {dirty} dirty marks: the two sides wrote differently"
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


def _parts(argv: list[str]) -> set[str]:
    """The parts `--only=a,b` names (all by default)."""
    parts = {"submit", "dispatch", "scale", "faults"}
    for arg in argv:
        if arg.startswith("--only="):
            chosen = set(arg.removeprefix("--only=").split(","))
            if unknown := chosen - parts:
                raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}: {parts}")
            return chosen
    return parts


def main() -> None:
    parts = _parts(sys.argv[1:])
    # The in-process SMTP server logs every command at INFO: keep the figures readable.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    from bench.bench_aggregation import postgres
    from bench.delivery_scale import main as scale
    from worker.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="pulse-bench-delivery-") as directory:
        redis = EmbeddedRedis(Path(directory)).start()
        try:
            if "submit" in parts:
                bench_submits("sqlite", f"sqlite:///{Path(directory) / 'submit.db'}", redis.url)
            if "dispatch" in parts:
                bench_dispatch("sqlite", f"sqlite:///{Path(directory) / 'dispatch.db'}")
            if "submit" in parts:
                with postgres() as url:
                    if url is None:
                        print("[postgresql] skipped: no PostgreSQL (set PULSE_TEST_POSTGRES_URL)")
                    else:
                        bench_submits("postgresql", url, redis.url)
            if "dispatch" in parts:
                with postgres() as url:
                    if url is not None:
                        bench_dispatch("postgresql", url)
        finally:
            redis.stop()
    if parts & {"scale", "faults"}:
        scale("--quick" in sys.argv, scale="scale" in parts, faults="faults" in parts)


if __name__ == "__main__":
    main()
