"""People import benchmark: a 5,000-person CSV into a fresh SQLite database, vs a bare ceiling.

Ours: parse and validate every row (email_validator per address), build the team tree, create
people, memberships and leader grants through the ORM in one transaction, then re-import the
same file (idempotent pass). Ceiling: csv.reader plus one executemany INSERT of the same people
into the same table, with no validation and no tree. Set BENCH_IMPORT_PEOPLE to change N.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import text

from pulse.db import make_engine, make_session_factory
from pulse.migrate import upgrade
from pulse.people.importer import import_people, parse_people_csv

DEPARTMENTS = 20
TEAMS_PER_DEPARTMENT = 10


def make_file(people: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name", "team", "department", "role"])
    teams = DEPARTMENTS * TEAMS_PER_DEPARTMENT
    for i in range(people):
        team = i % teams
        role = "leader" if i < teams else "member"
        writer.writerow(
            [f"p{i}@example.org", f"Person {i}", f"Team {team}", f"Dept {team % DEPARTMENTS}", role]
        )
    return buffer.getvalue().encode()


def fresh_engine(directory: Path, name: str):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{directory / name}")
    upgrade(engine)
    return engine


def main() -> None:
    people = int(os.environ.get("BENCH_IMPORT_PEOPLE", "5000"))
    content = make_file(people)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        parse_people_csv(content)
        parsing = time.perf_counter() - start
        engine = fresh_engine(directory, "ours.db")
        factory = make_session_factory(engine)
        start = time.perf_counter()
        with factory() as session:
            report = import_people(session, content=content, on=date(2026, 11, 21))
            session.commit()
        ours = time.perf_counter() - start
        start = time.perf_counter()
        with factory() as session:
            again = import_people(session, content=content, on=date(2026, 11, 21))
            session.commit()
        reimport = time.perf_counter() - start
        assert report.people_created == people and again.people_unchanged == people
        engine.dispose()

        bare = fresh_engine(directory, "bare.db")
        start = time.perf_counter()
        rows = list(csv.reader(io.StringIO(content.decode())))[1:]
        with bare.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO persons (email, name, active, created_at) "
                    "VALUES (:email, :name, 1, '2026-11-21 00:00:00')"
                ),
                [{"email": row[0].lower(), "name": row[1]} for row in rows],
            )
        ceiling = time.perf_counter() - start
        bare.dispose()
    print(
        f"people: {people}, teams: {DEPARTMENTS * TEAMS_PER_DEPARTMENT}, departments: {DEPARTMENTS}"
    )
    print(f"import (validate + people + tree + memberships + leaders): {ours:.2f} s")
    print(f"  of which parsing and validating the file:               {parsing:.2f} s")
    print(f"re-import of the same file (nothing changes):             {reimport:.2f} s")
    print(f"ceiling (csv.reader + one executemany INSERT of people):    {ceiling:.3f} s")
    print(
        f"ratio import / ceiling: {ours / ceiling:.1f}x; "
        f"re-import / ceiling: {reimport / ceiling:.1f}x"
    )
