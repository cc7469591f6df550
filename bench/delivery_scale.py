"""Sending at scale: one cycle's invitations by real Celery workers, and two faults, on PostgreSQL.

The set-up is the at-scale layout on one machine: a throwaway PostgreSQL cluster (as the tests
start one), an embedded Redis as the broker, N real worker processes
(`python -m bench.delivery_worker`: `celery worker --pool solo`, one task at a time) and an
SMTP sink in processes of its own (bench.smtp_sink, 8 processes on one port) that counts the
messages each person got.

1. Scale-out: 50,000 invitations (`--quick`: 5,000) of one cycle, sent after one
   `send_invitations` task, with 1, 2 and 4 worker processes. The clock runs from queueing the
   task to the database holding every invitation `sent`; between runs the invitations go back
   to pending and the sink starts afresh. Each run reports emails/s, and the CPU that the
   workers, PostgreSQL, the sink and Redis used (in cores: CPU seconds per wall second), so a
   reader can see who competed for the machine's cores, and the CPU each part spent per email,
   which does not depend on that competition. Goal: ≥ 1.7× from 1 to 2 processes where the
   sink and the cores allow it. What they allow is worked out from each run's CPU per email
   (allowed_rate: each worker is at most one core, and everything shares the cores); a run of
   2 workers at ≥ 90 % of it is held by the machine, not by the sending, and meets the goal.
   A single sink process, starved like every process on a shared machine, held 1 and 2
   workers alike to its own rate (38 and 35 emails/s with the sink at 2 ms CPU per message):
   hence several sink processes.
2. Fault, killed worker: 2 workers with a short lease; one is SIGKILLed once 40 % are sent,
   then ticks (as beat sends them) pick its batch up after the lease. Missing and duplicate
   emails are read at the sink. The design allows one duplicate per kill, when the kill
   falls between the sink taking a message's last DATA line (where it counts it) and the
   worker's autocommitted "sent" mark (one 250 reply and one UPDATE round trip later): that
   row is still claimed, so it is sent again after the lease.
3. Fault, slow run: a sink that holds each message, so each batch takes longer than the
   (short) lease, with ticks every second trying to claim: the renewal must keep every batch
   with its run, so 0 duplicates and 0 missing.
Every run has a hard timeout (BENCH_SCALE_TIMEOUT, seconds) and reports what it reached.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from celery import Celery
from sqlalchemy import Engine, text

from bench.bench_aggregation import postgres
from bench.bench_delivery import SECRET, prepare
from bench.delivery_processes import Sink, Workers, cpu_seconds
from pulse.config import broker_url
from pulse.db import make_engine
from worker.embedded_redis import EmbeddedRedis

PEOPLE, QUICK_PEOPLE = 50_000, 5_000
PROCESS_COUNTS = (1, 2, 4)
TIMEOUT = float(os.environ.get("BENCH_SCALE_TIMEOUT", "900"))
GOAL_SPEEDUP = 1.7
MACHINE_BOUND = 0.9
KILL_PEOPLE, KILL_LEASE, KILL_AT = 5_000, 4.0, 0.4
SLOW_PEOPLE, SLOW_LEASE, SLOW_DELAY = 1_000, 2.0, 0.03  # a batch of 100 takes ≥ 3 s
POLL = 0.25
# Sink processes on one port (SO_REUSEPORT), the same for every run: enough that the kernel's
# spreading of connections rarely puts two workers on one, so the sink is not what limits.
SINK_PROCESSES = 8


@dataclass
class Stack:
    """The long-lived parts: database, broker, the cycle, and CPU meters for PG and Redis."""

    directory: Path
    database_url: str
    engine: Engine
    redis: EmbeddedRedis
    celery: Celery
    cycle_id: int
    people: int
    postgres_process: psutil.Process

    def env(self, sink: Sink, lease: float | None = None) -> dict[str, str]:
        env = {
            "PULSE_ENV": "test",
            "PULSE_DATABASE_URL": self.database_url,
            "PULSE_REDIS_URL": self.redis.url,
            "PULSE_SECRET_KEY": SECRET,
            "PULSE_MAIL_BACKEND": "smtp",
            "PULSE_SMTP_HOST": "127.0.0.1",
            "PULSE_SMTP_PORT": str(sink.port),
            "PULSE_SMTP_TLS": "false",
            "PULSE_DEV_OUTBOX": "false",
        }
        if lease is not None:
            env["BENCH_LEASE_SECONDS"] = str(lease)
        return env

    def reset(self) -> None:
        """Every invitation of the cycle back to pending, with no link: a fresh send."""
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE invitations SET delivery_state = 'pending', sent_at = NULL, "
                    "attempts = 0, last_error = NULL WHERE cycle_id = :cycle"
                ),
                {"cycle": self.cycle_id},
            )
            connection.execute(text("DELETE FROM invitation_links"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE invitations"))
            connection.execute(text("VACUUM ANALYZE invitation_links"))

    def states(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT delivery_state, COUNT(*) FROM invitations WHERE cycle_id = :cycle "
                    "GROUP BY delivery_state"
                ),
                {"cycle": self.cycle_id},
            ).all()
        return {state: count for state, count in rows}

    def expected(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(
                connection.scalars(
                    text(
                        "SELECT p.email FROM invitations i JOIN persons p ON p.id = i.person_id "
                        "WHERE i.cycle_id = :cycle"
                    ),
                    {"cycle": self.cycle_id},
                )
            )


@contextmanager
def stack(people: int) -> Iterator[Stack | None]:
    with ExitStack() as stack_:
        directory = Path(stack_.enter_context(tempfile.TemporaryDirectory(prefix="pulse-scale-")))
        url = stack_.enter_context(postgres())
        if url is None:
            yield None
            return
        redis = EmbeddedRedis(directory / "redis").start()
        stack_.callback(redis.stop)
        opens = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        cycle_id = prepare(url, people, opens)
        print(f"[scale] {people:,} invitations prepared in {time.perf_counter() - started:.0f}s")
        engine = make_engine(url)
        stack_.callback(engine.dispose)
        with engine.connect() as connection:
            data = connection.execute(text("SHOW data_directory")).scalar_one()
        postmaster = int((Path(data) / "postmaster.pid").read_text().split()[0])
        celery = Celery("bench", broker=broker_url(redis.url))
        stack_.callback(celery.close)
        yield Stack(
            directory, url, engine, redis, celery, cycle_id, people, psutil.Process(postmaster)
        )


@dataclass
class Outcome:
    seconds: float
    sent: int
    finished: bool
    missing: int
    duplicates: int
    extra: int
    cpu: dict[str, float]
    sink_messages: int
    sink_busiest: int
    doubled: list[str]


def run(
    bench: Stack,
    *,
    processes: int,
    lease: float | None = None,
    delay: float = 0.0,
    during: Callable[[Stack, Workers, int, float], None] | None = None,
) -> Outcome:
    """Send the cycle once with `processes` workers; `during(stack, workers, sent, elapsed)` is
    called at every poll (the faults act there). Ends when all are sent or at TIMEOUT."""
    bench.reset()
    # Shares left queued by the last run would start sending before the clock does.
    bench.celery.control.purge()
    sink = Sink(bench.directory, delay, SINK_PROCESSES)
    workers: Workers | None = None
    try:
        workers = Workers(bench.directory, processes, bench.env(sink, lease))
        meters: dict[str, Callable[[], float]] = {
            "workers": workers.cpu,
            "postgres": lambda: cpu_seconds(bench.postgres_process),
            "redis": lambda: cpu_seconds(psutil.Process(bench.redis.process.pid)),  # type: ignore[union-attr]
            "sink": sink.cpu,
        }
        before = {name: meter() for name, meter in meters.items()}
        machine_before = sum(psutil.cpu_times()[:3])  # user, nice, system: busy time
        started = time.perf_counter()
        bench.celery.send_task("worker.delivery.send_invitations", args=[bench.cycle_id])
        sent, elapsed = 0, 0.0
        while elapsed < TIMEOUT:
            time.sleep(POLL)
            elapsed = time.perf_counter() - started
            sent = bench.states().get("sent", 0)
            workers.cpu()  # read as it goes: a worker killed later keeps its share
            if sent >= bench.people:
                break
            if during is not None:
                during(bench, workers, sent, elapsed)
        seconds = time.perf_counter() - started
        cpu = {name: meter() - before[name] for name, meter in meters.items()}
        cpu["machine"] = sum(psutil.cpu_times()[:3]) - machine_before
        cpu = {name: value / seconds for name, value in cpu.items()}
    finally:
        if workers is not None:
            workers.stop()
            if errors := workers.errors():
                print(f"[scale] worker errors:\n{errors[-3000:]}", flush=True)
        shares, counts = sink.stop()
    expected = bench.expected()
    return Outcome(
        seconds=seconds,
        sent=sent,
        finished=sent >= bench.people,
        missing=len(expected - counts.keys()),
        duplicates=sum(count - 1 for count in counts.values() if count > 1),
        extra=len(counts.keys() - expected),
        cpu=cpu,
        sink_messages=sum(shares),
        sink_busiest=max(shares, default=0),
        doubled=sorted(r for r, count in counts.items() if count > 1),
    )


def _describe(outcome: Outcome, people: int) -> str:
    cpu = outcome.cpu
    done = "" if outcome.finished else f" TIMED OUT with {outcome.sent:,} of {people:,} sent;"
    # CPU per email does not depend on how busy the machine was: it bounds the rate on idle
    # cores (a process can send at most 1 / its CPU per email).
    per_email = {
        name: 1000 * cpu[name] * outcome.seconds / max(outcome.sent, 1)
        for name in ("workers", "postgres", "sink")
    }
    return (
        f"{outcome.seconds:.1f}s, {outcome.sent / outcome.seconds:.0f} emails/s;{done} "
        f"sink got {outcome.sink_messages:,} (busiest of its processes "
        f"{outcome.sink_busiest:,}): {outcome.missing} missing, "
        f"{outcome.duplicates} duplicate, {outcome.extra} unexpected | cores busy: workers "
        f"{cpu['workers']:.2f}, PostgreSQL {cpu['postgres']:.2f}, sink {cpu['sink']:.2f}, "
        f"Redis {cpu['redis']:.2f}; whole machine {cpu['machine']:.2f} of {psutil.cpu_count()} "
        f"| CPU per email: workers {per_email['workers']:.1f} ms, PostgreSQL "
        f"{per_email['postgres']:.1f} ms, sink {per_email['sink']:.1f} ms"
    )


def allowed_rate(processes: int, outcome: Outcome, cores: int) -> float:
    """The most emails/s `processes` workers could send on `cores` cores at the CPU per email
    measured in a run: each worker is one process (at most one core), and the workers, the
    sink, PostgreSQL and Redis share the cores."""
    per_email = {
        name: outcome.cpu[name] * outcome.seconds / max(outcome.sent, 1)
        for name in ("workers", "postgres", "sink", "redis")
    }
    everything = sum(per_email.values())
    return min(processes / per_email["workers"], cores / everything)


def scale_out(bench: Stack) -> None:
    cores = psutil.cpu_count() or 1
    rates: dict[int, float] = {}
    share: dict[int, float] = {}
    # Two workers first: the first run after the 50,000 rows were written pays for a cold
    # database (PostgreSQL sets hint bits, fills its caches), which must count against the
    # speed-up from one to two, never for it.
    for processes in sorted(PROCESS_COUNTS, key=lambda n: (n != 2, n)):
        outcome = run(bench, processes=processes)
        rates[processes] = outcome.sent / outcome.seconds
        # How close the run came to what the cores allow at its own CPU per email.
        share[processes] = rates[processes] / allowed_rate(processes, outcome, cores)
        print(
            f"[scale] {processes} worker process(es), {bench.people:,} invitations: "
            + _describe(outcome, bench.people)
            + f" | {share[processes]:.0%} of what {cores} cores allow at that CPU per email",
            flush=True,
        )
    speedup = rates[2] / rates[1]
    # Where two workers already send as fast as the cores allow with the sink and PostgreSQL
    # beside them, the machine is the limit, not the sending: that is "where the sink allows".
    met = speedup >= GOAL_SPEEDUP or share[2] >= MACHINE_BOUND
    print(
        f"[scale] speed-up 1→2 processes {speedup:.2f}×, 1→4 {rates[4] / rates[1]:.2f}× (goal ≥ "
        f"{GOAL_SPEEDUP}× where the sink and cores allow: "
        + ("met" if met else "NOT MET")
        + f"; judged as ≥ {GOAL_SPEEDUP}×, or 2 workers at ≥ {MACHINE_BOUND:.0%} of what the "
        "cores allow)",
        flush=True,
    )


def fault_killed_worker(bench: Stack) -> None:
    killed, last_tick = [False], [0.0]

    def during(stack_: Stack, workers: Workers, sent: int, elapsed: float) -> None:
        if not killed[0]:
            if sent >= KILL_AT * stack_.people:
                workers.kill(0)
                killed[0] = True
                print(f"[fault:kill] SIGKILLed one worker at {elapsed:.1f}s, {sent:,} sent")
            return
        # Beat's tick, every half lease: the dead run's batch is sendable once the lease ends.
        if elapsed - last_tick[0] >= KILL_LEASE / 2:
            last_tick[0] = elapsed
            stack_.celery.send_task("worker.tasks.tick")

    outcome = run(bench, processes=2, lease=KILL_LEASE, during=during)
    print(
        f"[fault:kill] 2 workers, lease {KILL_LEASE:.0f}s, one SIGKILLed at {KILL_AT:.0%}: "
        + _describe(outcome, bench.people)
        + (f"; doubled: {', '.join(outcome.doubled)}" if outcome.doubled else ""),
        flush=True,
    )


def fault_slow_run(bench: Stack) -> None:
    last_tick = [0.0]

    def during(stack_: Stack, workers: Workers, sent: int, elapsed: float) -> None:
        if elapsed - last_tick[0] >= 1.0:
            last_tick[0] = elapsed
            stack_.celery.send_task("worker.tasks.tick")

    outcome = run(bench, processes=2, lease=SLOW_LEASE, delay=SLOW_DELAY, during=during)
    print(
        f"[fault:slow] 2 workers, lease {SLOW_LEASE:.0f}s, sink holding each message "
        f"{SLOW_DELAY * 1000:.0f} ms (a batch of 100 takes ≥ {SLOW_DELAY * 100:.0f}s), ticks "
        "every second: " + _describe(outcome, bench.people),
        flush=True,
    )


def main(quick: bool = False, *, scale: bool = True, faults: bool = True) -> None:
    if scale:
        with stack(QUICK_PEOPLE if quick else PEOPLE) as bench:
            if bench is None:
                print("[scale] skipped: no PostgreSQL (set PULSE_TEST_POSTGRES_URL)")
                return
            scale_out(bench)
    if not faults:
        return
    with stack(KILL_PEOPLE) as bench:
        if bench is not None:
            fault_killed_worker(bench)
    with stack(SLOW_PEOPLE) as bench:
        if bench is not None:
            fault_slow_run(bench)


if __name__ == "__main__":
    main("--quick" in sys.argv)
