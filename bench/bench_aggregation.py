"""Aggregation benchmark: ~1,000,000 answers, full rebuild and one cycle, vs a raw GROUP BY.

200 teams in 20 departments × 52 fortnightly rotating cycles (8 items each) × 12 respondents
per team and cycle = 998,400 answers. Measured on SQLite and on PostgreSQL (a throwaway
local cluster like the tests start, or PULSE_TEST_POSTGRES_URL): the full rebuild over built
tables and the first build into empty ones against a raw SQL GROUP BY (team, cycle, item)
over the same rows, and one cycle's incremental aggregation (one team dirty; every team
dirty) against the raw GROUP BY of that cycle.
Goals: rebuild and first build ≤ 3× the raw query, one cycle ≤ 3× the raw one-cycle query,
peak RSS < 1 GB.
Set BENCH_AGG_RESPONDENTS to shrink the data for a quick look.
"""

from __future__ import annotations

import os
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from pulse.db import make_engine, make_session_factory
from pulse.migrate import upgrade
from pulse.reporting.aggregation import aggregate_dirty, aggregate_team_cycle, rebuild_all
from pulse.reporting.dirty import mark_dirty
from pulse.surveys.bank import sync_item_bank
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Schedule

DEPARTMENTS = 20
TEAMS_PER_DEPARTMENT = 10
CYCLES = 52
RESPONDENTS = int(os.environ.get("BENCH_AGG_RESPONDENTS", "12"))
K = 5
GOAL_RATIO = 3.0
GOAL_RSS_MB = 1024

RAW_ALL = """
SELECT r.team_id, r.cycle_id, a.item_id, COUNT(a.value), AVG(a.value)
FROM answers a JOIN responses r ON r.id = a.response_id
GROUP BY r.team_id, r.cycle_id, a.item_id
"""
RAW_ONE = """
SELECT r.team_id, r.cycle_id, a.item_id, COUNT(a.value), AVG(a.value)
FROM answers a JOIN responses r ON r.id = a.response_id
WHERE r.cycle_id = :cycle
GROUP BY r.team_id, r.cycle_id, a.item_id
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(
    action: Callable[[], object], repeat: int = 1, setup: Callable[[], object] | None = None
) -> float:
    """Best wall time of `repeat` runs, in seconds; `setup` runs before each, untimed."""
    best = float("inf")
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def _structure(session: Session) -> tuple[list[int], list[tuple[int, list[int]]]]:
    """Teams and cycles through the real services; returns team ids and (cycle, item ids)."""
    sync_item_bank(session)
    org = session.execute(
        text(
            "INSERT INTO teams (name, kind, created_at) "
            "VALUES ('Org', 'organisation', :t) RETURNING id"
        ),
        {"t": datetime(2025, 1, 1)},
    ).scalar_one()
    teams: list[int] = []
    for d in range(DEPARTMENTS):
        dept = session.execute(
            text(
                "INSERT INTO teams (name, kind, parent_id, created_at) "
                "VALUES (:n, 'department', :p, :t) RETURNING id"
            ),
            {"n": f"Department {d}", "p": org, "t": datetime(2025, 1, 1)},
        ).scalar_one()
        for t in range(TEAMS_PER_DEPARTMENT):
            teams.append(
                session.execute(
                    text(
                        "INSERT INTO teams (name, kind, parent_id, created_at) "
                        "VALUES (:n, 'team', :p, :t) RETURNING id"
                    ),
                    {"n": f"Team {d}.{t}", "p": dept, "t": datetime(2025, 1, 1)},
                ).scalar_one()
            )
    schedule = Schedule(name="bench", program="rotating", start_date=date(2025, 1, 6))
    session.add(schedule)
    session.flush()
    cycles = []
    start = datetime(2025, 1, 6, 9, tzinfo=UTC)
    for sequence in range(CYCLES):
        opens = start + timedelta(weeks=2 * sequence)
        cycle = create_cycle(
            session,
            schedule_id=schedule.id,
            period_key=f"b{sequence}",
            sequence=sequence,
            program="rotating",
            opens_at=opens,
            closes_at=opens + timedelta(days=5),
        )
        cycle.status = "closed"
        cycles.append((cycle.id, [ci.item_id for ci in cycle.items]))
    session.commit()
    return teams, cycles


def _rows(
    teams: list[int], cycles: list[tuple[int, list[int]]]
) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """Responses and answers, one cycle at a time (bounded memory)."""
    rng = random.Random(42)
    for cycle_id, items in cycles:
        responses: list[tuple[object, ...]] = []
        answers: list[tuple[object, ...]] = []
        for team in teams:
            for _ in range(RESPONDENTS):
                rid = uuid.UUID(int=rng.getrandbits(128)).hex
                responses.append((rid, cycle_id, team, date(2025, 1, 7)))
                for item in items:
                    value = None if rng.random() < 0.05 else rng.randint(1, 5)
                    answers.append((rid, item, value))
        yield responses, answers


def _load_sqlite(engine: Engine, teams: list[int], cycles: list[tuple[int, list[int]]]) -> int:
    count = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for responses, answers in _rows(teams, cycles):
            cursor.executemany(
                "INSERT INTO responses (id, cycle_id, team_id, submitted_on) VALUES (?, ?, ?, ?)",
                [(r, c, t, d.isoformat()) for r, c, t, d in responses],  # type: ignore[attr-defined]
            )
            cursor.executemany(
                "INSERT INTO answers (response_id, item_id, value) VALUES (?, ?, ?)", answers
            )
            count += len(answers)
        raw.commit()
        cursor.execute("ANALYZE")
    finally:
        raw.close()
    return count


def _load_postgres(engine: Engine, teams: list[int], cycles: list[tuple[int, list[int]]]) -> int:
    count = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for responses, answers in _rows(teams, cycles):
            with cursor.copy(
                "COPY responses (id, cycle_id, team_id, submitted_on) FROM STDIN"
            ) as cp:  # type: ignore[attr-defined]
                for row in responses:
                    cp.write_row(row)
            with cursor.copy("COPY answers (response_id, item_id, value) FROM STDIN") as cp:  # type: ignore[attr-defined]
                for row in answers:
                    cp.write_row(row)
            count += len(answers)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return count


def run(label: str, url: str) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        teams, cycles = _structure(session)
    load = _load_postgres if engine.dialect.name == "postgresql" else _load_sqlite
    started = time.perf_counter()
    answers = load(engine, teams, cycles)
    print(
        f"[{label}] loaded {answers:,} answers in {time.perf_counter() - started:.1f}s", flush=True
    )

    def raw_all() -> None:
        with engine.connect() as conn:
            conn.execute(text(RAW_ALL)).all()

    middle = cycles[CYCLES // 2][0]

    def raw_one() -> None:
        with engine.connect() as conn:
            conn.execute(text(RAW_ONE), {"cycle": middle}).all()

    def rebuild() -> None:
        with factory() as session:
            rebuild_all(session, threshold=K)
            session.commit()

    def one_team() -> None:
        with factory() as session:
            aggregate_team_cycle(session, team_id=teams[0], cycle_id=middle, threshold=K)
            session.commit()

    def mark_cycle() -> None:
        # Submits mark their team dirty as they land; only the aggregation run is timed.
        with factory() as session:
            for team in teams:
                mark_dirty(session, team_id=team, cycle_id=middle)
            session.commit()

    def whole_cycle() -> None:
        with factory() as session:
            aggregate_dirty(session, threshold=K)
            session.commit()

    raw_all()  # warm the cache for both sides alike
    figures = {
        "raw_all": timed(raw_all, 2),
        # The first build writes into empty tables; the rebuild (`pulse aggregate --all`, say
        # after a threshold change) runs over built ones: each is timed on its own, the
        # rebuild as the best of as many runs as the raw query.
        "first": timed(rebuild, 1),
        "rebuild": timed(rebuild, 2),
        "raw_one": timed(raw_one, 3),
        "one_team": timed(one_team, 3),
        "whole_cycle": timed(whole_cycle, 3, setup=mark_cycle),
    }
    engine.dispose()
    print(
        f"[{label}] full rebuild {figures['rebuild']:.2f}s vs raw GROUP BY "
        f"{figures['raw_all']:.2f}s: {figures['rebuild'] / figures['raw_all']:.2f}x "
        f"(goal <= {GOAL_RATIO}x); first build into empty tables {figures['first']:.2f}s: "
        f"{figures['first'] / figures['raw_all']:.2f}x (goal <= {GOAL_RATIO}x)\n"
        f"[{label}] one cycle, one team dirty {figures['one_team'] * 1000:.0f}ms; every team "
        f"dirty {figures['whole_cycle'] * 1000:.0f}ms vs raw one-cycle GROUP BY "
        f"{figures['raw_one'] * 1000:.0f}ms: {figures['one_team'] / figures['raw_one']:.2f}x / "
        f"{figures['whole_cycle'] / figures['raw_one']:.2f}x (goal <= {GOAL_RATIO}x)\n"
        f"[{label}] peak RSS so far {peak_rss_mb():.0f} MB (goal < {GOAL_RSS_MB} MB)",
        flush=True,
    )
    return figures


@contextmanager
def postgres() -> Iterator[str | None]:
    """A fresh database on PULSE_TEST_POSTGRES_URL or on a throwaway local cluster."""
    from tests.support.postgres import LocalPostgres, find_bindir

    given = os.environ.get("PULSE_TEST_POSTGRES_URL")
    server = None
    if given:
        admin_url = given
    else:
        bindir = find_bindir()
        if bindir is None:
            yield None
            return
        server = LocalPostgres(bindir)
        admin_url = server.start()
    name = f"pulse_bench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if server is not None:
            server.stop()


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pulse-bench-") as directory:
        run("sqlite", f"sqlite:///{Path(directory) / 'bench.db'}")
    with postgres() as url:
        if url is None:
            print("[postgresql] skipped: no PostgreSQL (set PULSE_TEST_POSTGRES_URL)")
        else:
            run("postgresql", url)
    print(
        f"peak RSS {peak_rss_mb():.0f} MB (goal < {GOAL_RSS_MB} MB); "
        f"total {time.perf_counter() - started:.0f}s",
        flush=True,
    )


if __name__ == "__main__":
    main()
