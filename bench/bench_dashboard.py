"""Dashboard callbacks vs the bare ceiling, in a 1,000- and a 10,000-person organisation.

Each organisation is imported through Team Pulse's own people import (people, teams of 4–16,
departments of 10 teams, leaders), then 52 weekly closed cycles of aggregates are inserted in
bulk and stamped as an aggregation run would, each theme row with the cycles its change test
read (the one before and up to twelve before that), which a report checks are still shown.
Each main callback runs as Dash would: in a request of a signed-in viewer (the admin, who sees
the whole organisation, and a department leader, who sees a department and its 10 teams), its
output serialised to JSON with the encoder Dash uses. Flags sit on one row in fifty. Its p95
is compared with the ceiling: the least plain SQL that selects the same aggregate rows plus
json.dumps of them, in the same kind of request (a fresh request context with the user loaded
and signed in, whose own p95 is printed too). Calls are timed in turns, so load from elsewhere
on the shared machine falls on every side alike.

Goals (issue 15, item 12): every callback ≤ 3× its ceiling in the 10,000-person
organisation, and a department leader's callbacks cost the same in both (within 1.3×).
`--quick` times fewer runs.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_login import login_user
from plotly.io.json import to_json_plotly
from sqlalchemy import select, text

from pulse.config import Settings
from pulse.db import make_engine, make_session_factory
from pulse.instrument import THEMES
from pulse.migrate import upgrade
from pulse.people.importer import import_people
from pulse.people.service import create_user
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.reporting.stamps import stamp_cycles
from pulse.reporting.trees import CycleTrees
from pulse.surveys.bank import sync_item_bank
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Item
from pulse.teams.models import Team

SIZES = (1_000, 10_000)
TEAMS_PER_DEPARTMENT = 10
CYCLES = 52
RUNS = 20 if "--quick" in sys.argv else 60
WARMUP = 3 if "--quick" in sys.argv else 5
LIMIT = 3.0
FLAGGED = 0.02
SAME_COST = 1.3
ADMIN = "bench.admin@example.org"
LEADER = "bench.department.lead@example.org"
PASSWORD = "bench-password-123"


def people_file(people: int, rng: random.Random) -> tuple[bytes, int]:
    """The organisation as the people import reads it: teams of 4–16 people, ten teams to a
    department, the first person of each team its leader. Returns the file and team count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name", "team", "department", "role"])
    person = team = 0
    while person < people:
        size = min(rng.randint(4, 16), people - person)
        department = team // TEAMS_PER_DEPARTMENT
        for seat in range(size):
            writer.writerow(
                [
                    f"p{person}@example.org",
                    f"Person {person}",
                    f"Team {team:04d}",
                    f"Department {department:03d}",
                    "leader" if seat == 0 else "member",
                ]
            )
            person += 1
        team += 1
    return buffer.getvalue().encode(), team


def _compared(flagged: bool, n: int, mean: float) -> dict[str, Any]:
    fields = dict(
        delta=0.6,
        delta_low=0.2,
        delta_high=1.0,
        window_n=2 * n,
        window_cycles=2,
        baseline_n=6 * n,
        baseline_mean=mean - 0.6,
        baseline_cycles=6,
    )
    return {key: value if flagged else None for key, value in fields.items()}


def _aggregates(
    sizes: dict[int, int], cycles: list[int], items: list[Item], rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    themes, participation, item_rows = [], [], []
    anchors = [i for i in items if i.is_anchor]
    last = cycles[-1]
    for group, n in sizes.items():
        for at, cycle in enumerate(cycles):
            # What a change test read, as aggregation stores it: the cycle before (the
            # window) and up to twelve before that (the baseline); tested once there are some.
            read = ",".join(map(str, cycles[max(0, at - 13) : at])) if at >= 3 else None
            for theme in THEMES:
                mean = rng.uniform(2.5, 4.3)
                # A flag on one row in fifty: far more than the change rule raises without a
                # change (docs/statistics.md: about 0.2 %), so flags are never rare here.
                flagged = rng.choice(["up", "down"]) if rng.random() < FLAGGED else None
                themes.append(
                    {
                        "team_id": group,
                        "cycle_id": cycle,
                        "theme": theme,
                        "n": n,
                        "mean": mean,
                        "sd": 0.7,
                        "ci_low": mean - 0.4,
                        "ci_high": mean + 0.4,
                        "favourable_n": n // 2,
                        "favourable_pct": 50.0,
                        "fav_low": 30.0,
                        "fav_high": 70.0,
                        "change": flagged,
                        # What the change test compared, where it flagged one.
                        **_compared(flagged is not None, n, mean),
                        "compared_cycles": read,
                        "suppressed": n < 5,
                        "final": True,
                    }
                )
            participation.append(
                {"team_id": group, "cycle_id": cycle, "invited": n + 2, "responded": n}
            )
            for item in items if cycle == last else anchors:
                item_rows.append(
                    {
                        "team_id": group,
                        "cycle_id": cycle,
                        "item_id": item.id,
                        "n": n,
                        "mean": 3.5,
                        "distribution": {"1": 1, "2": 1, "3": 1, "4": n - 3, "5": 0},
                        "top2_pct": 50.0,
                        "suppressed": n < 5,
                    }
                )
    return themes, participation, item_rows


def bulk_insert(session: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into a table by one executemany on the DBAPI cursor, the column defaults filled in
    here (a timestamp default as one fixed time): ORM bulk inserts of a 10,000-person
    organisation's aggregates spend minutes binding each value of each row."""
    fixed = datetime(2026, 1, 1).isoformat(sep=" ")
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.default is not None and column.name not in rows[0]:
            value = column.default.arg
            defaults[column.name] = fixed if callable(value) else value
    names = [*rows[0], *defaults]
    values = [
        tuple(
            json.dumps(v) if isinstance(v, dict) else v for v in (*row.values(), *defaults.values())
        )
        for row in rows
    ]
    cursor = session.connection().connection.dbapi_connection.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            values,
        )
    finally:
        cursor.close()


def seed(url: str, people: int) -> dict[str, Any]:
    """A fresh database holding an organisation of `people`; the ids the cases ask about."""
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(5)
    content, _ = people_file(people, rng)
    with make_session_factory(engine)() as session:
        sync_item_bank(session)
        import_people(session, content=content, on=date(2025, 10, 1))
        create_user(session, email=ADMIN, password=PASSWORD, role="admin")
        create_user(
            session, email=LEADER, password=PASSWORD, role="leader", team_name="Department 001"
        )
        session.flush()
        tree = {t.id: t for t in session.scalars(select(Team))}
        sizes = {
            team_id: n
            for team_id, n in session.execute(
                text("SELECT team_id, COUNT(*) FROM memberships GROUP BY team_id")
            )
        }
        for team in sorted(
            tree.values(), key=lambda t: {"team": 0, "department": 1}.get(t.kind, 2)
        ):
            if team.parent_id is not None:
                sizes[team.parent_id] = sizes.get(team.parent_id, 0) + sizes.get(team.id, 0)
        start = datetime(2025, 11, 3, 8, tzinfo=UTC)
        cycles = []
        for sequence in range(CYCLES):
            opens = start + timedelta(weeks=sequence)
            cycle = create_cycle(
                session,
                schedule_id=None,
                period_key=f"bench-{sequence}",
                sequence=sequence,
                program="full",
                opens_at=opens,
                closes_at=opens + timedelta(days=5),
            )
            cycle.status = "closed"
            cycles.append(cycle)
        session.flush()
        ids = [c.id for c in cycles]
        items = list(session.scalars(select(Item).where(Item.theme.in_(THEMES))))
        themes, participation, item_rows = _aggregates(sizes, ids, items, rng)
        for model, rows in (
            (ThemeAggregate, themes),
            (Participation, participation),
            (ItemAggregate, item_rows),
        ):
            bulk_insert(session, model.__table__, rows)
        # What an aggregation run does after writing: decide and stamp each cycle's suppression.
        stamp_cycles(
            session, cycle_ids=ids, ks=dict.fromkeys(ids, 5), trees=CycleTrees.load(session, ids)
        )
        session.commit()
        department = next(t for t in tree.values() if t.name == "Department 001")
        team = next(
            t.id for t in tree.values() if t.parent_id == department.id and sizes[t.id] >= 8
        )
        info = {
            "team": team,
            "department": department.id,
            "scope": [department.id]
            + [t.id for t in tree.values() if t.parent_id == department.id],
            "org": next(t.id for t in tree.values() if t.kind == "organisation"),
            "cycle": ids[-1],
            "groups": len(tree),
            "rows": len(themes),
        }
    engine.dispose()
    return info


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def timed(*calls: Callable[[], Any]) -> list[float]:
    """The p95 of each call, timed in turns (a, b, a, b, …) so that a burst of load on a
    shared machine falls on every side of a comparison alike."""
    for _ in range(WARMUP):
        for call in calls:
            call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(RUNS):
        for call, taken in zip(calls, samples, strict=True):
            started = time.perf_counter()
            call()
            taken.append(time.perf_counter() - started)
    return [_p95(taken) for taken in samples]


@dataclass
class Org:
    """One seeded organisation with its web app, and how to call things in its requests."""

    people: int
    app: Flask
    info: dict[str, Any]

    def as_user(self, email: str, call: Callable[[], Any]) -> Callable[[], Any]:
        from pulse.people.models import Person
        from webapp.auth.user import SignedInUser
        from webapp.extensions import db

        def run() -> Any:
            # A fresh request each time: access checks and the session are per request.
            with self.app.test_request_context("/dashboard/_dash-update-component", method="POST"):
                person = db.session.scalars(select(Person).where(Person.email == email)).one()
                login_user(SignedInUser.of(person))
                return call()

        return run

    def raw(self, email: str, *queries: tuple[str, dict[str, Any]]) -> Callable[[], Any]:
        """The ceiling: plain SQL for the same rows and json.dumps of them, in a request."""
        engine = self.app.extensions["pulse.db"][0]

        def run() -> str:
            with engine.connect() as conn:
                rows = [
                    [dict(r._mapping) for r in conn.execute(text(sql), params)]
                    for sql, params in queries
                ]
            return json.dumps(rows, default=str)

        return self.as_user(email, run)


def cases(org: Org, email: str, scope: list[int] | None) -> list[tuple[str, Any, Any]]:
    """(name, callback, ceiling) for one viewer: scope None is the whole organisation."""
    from dashboard import access, callbacks

    info = org.info
    team, cycle = info["team"], info["cycle"]
    where = "" if scope is None else f" AND a.team_id IN ({', '.join(map(str, scope))})"
    groups = f"{team}, {info['department']}, {info['org']}"
    call = org.as_user

    def dumped(function: Callable[[], Any]) -> Callable[[], Any]:
        return call(email, lambda: to_json_plotly(function()))

    return [
        (
            "overview (one cycle, every group in scope)",
            dumped(lambda: callbacks.render_overview(cycle)),
            org.raw(
                email,
                (
                    "SELECT a.*, t.name FROM theme_aggregates a JOIN teams t ON t.id = a.team_id "
                    f"WHERE a.cycle_id = :c{where}",
                    {"c": cycle},
                ),
                (f"SELECT * FROM participation a WHERE a.cycle_id = :c{where}", {"c": cycle}),
            ),
        ),
        (
            "team view (52 cycles: themes, anchors, participation)",
            dumped(lambda: callbacks.render_team(team)),
            org.raw(
                email,
                (
                    "SELECT a.*, c.opens_at FROM theme_aggregates a JOIN cycles c "
                    "ON c.id = a.cycle_id WHERE a.team_id = :t",
                    {"t": team},
                ),
                (
                    "SELECT i.*, p.invited, p.responded FROM item_aggregates i JOIN items m ON "
                    "m.id = i.item_id LEFT JOIN participation p ON p.team_id = i.team_id AND "
                    "p.cycle_id = i.cycle_id WHERE i.team_id = :t AND m.is_anchor",
                    {"t": team},
                ),
            ),
        ),
        (
            "items (one team, one cycle)",
            dumped(lambda: callbacks.render_items(team, cycle)),
            org.raw(
                email,
                (
                    "SELECT i.*, m.code, m.wording FROM item_aggregates i JOIN items m ON "
                    "m.id = i.item_id WHERE i.team_id = :t AND i.cycle_id = :c",
                    {"t": team, "c": cycle},
                ),
            ),
        ),
        (
            "compare (team, department, organisation)",
            dumped(lambda: callbacks.render_compare(team, cycle)),
            org.raw(
                email,
                (
                    f"SELECT * FROM theme_aggregates WHERE cycle_id = :c AND team_id IN ({groups})",
                    {"c": cycle},
                ),
            ),
        ),
        (
            "cycle picker (52 cycles)",
            call(
                email,
                lambda: to_json_plotly(callbacks.overview_cycle_options(access.current_viewer())),
            ),
            org.raw(
                email,
                (
                    "SELECT DISTINCT c.id, c.opens_at, c.status FROM cycles c JOIN "
                    f"theme_aggregates a ON a.cycle_id = c.id WHERE 1 = 1{where} "
                    "ORDER BY c.opens_at DESC",
                    {},
                ),
            ),
        ),
    ]


def main() -> None:
    # The web app first: it mounts the dashboard, whose modules use its extensions.
    from webapp import create_app

    with tempfile.TemporaryDirectory() as folder:
        orgs: dict[int, Org] = {}
        for people in SIZES:
            url = f"sqlite:///{Path(folder) / f'bench-{people}.db'}"
            started = time.perf_counter()
            info = seed(url, people)
            print(
                f"{people:,} people: {info['groups']:,} groups, {info['rows']:,} theme "
                f"aggregates, seeded in {time.perf_counter() - started:.1f}s",
                flush=True,
            )
            settings = Settings.from_env(
                {
                    "PULSE_ENV": "test",
                    "PULSE_DATABASE_URL": url,
                    "PULSE_SECRET_KEY": "bench-secret-key-that-is-long-enough-123",
                    "PULSE_MAIL_BACKEND": "outbox",
                }
            )
            orgs[people] = Org(people, create_app({"PULSE": settings, "TESTING": True}), info)
        small, large = orgs[SIZES[0]], orgs[SIZES[-1]]
        (scaffold,) = timed(large.as_user(ADMIN, lambda: None))
        print(
            "request scaffolding alone (fresh request, user loaded, signed in), on both sides: "
            f"{scaffold * 1000:.2f} ms p95"
        )
        failed = False
        header = f"{'callback':<56} {'p95 ms':>7} {'ceiling ms':>10} {'ratio':>6}"
        print(f"\nadmin, {large.people:,} people (whole organisation)\n{header}")
        for name, ours, ceiling in cases(large, ADMIN, None):
            ours_p95, ceiling_p95 = timed(ours, ceiling)
            failed |= _line(name, ours_p95, ceiling_p95)
        print(f"\ndepartment leader (11 groups), {small.people:,} vs {large.people:,} people")
        print(f"{header}  {'vs small':>8}")
        same = True
        for (name, ours_s, ceil_s), (_, ours_l, ceil_l) in zip(
            cases(small, LEADER, small.info["scope"]),
            cases(large, LEADER, large.info["scope"]),
            strict=True,
        ):
            p_s, c_s, p_l, c_l = timed(ours_s, ceil_s, ours_l, ceil_l)
            _line(f"{name} [{small.people:,}]", p_s, c_s)
            failed |= _line(f"{name} [{large.people:,}]", p_l, c_l, growth=p_l / p_s)
            same &= p_l / p_s <= SAME_COST
        for org in orgs.values():
            org.app.extensions["pulse.db"][0].dispose()
        print(
            f"\ntarget: each ratio ≤ {LIMIT:.1f} at {large.people:,} people"
            + (" — NOT MET" if failed else " — met")
        )
        print(
            f"target: a department leader's callbacks within {SAME_COST}× across sizes"
            + (" — met" if same else " — NOT MET")
        )


def _line(name: str, ours: float, ceiling: float, growth: float | None = None) -> bool:
    ratio = ours / ceiling
    verdict = "ok" if ratio <= LIMIT else f"OVER {LIMIT:.0f}×"
    tail = "" if growth is None else f"  {growth:7.2f}×"
    print(f"{name:<56} {ours * 1000:7.1f} {ceiling * 1000:10.1f} {ratio:6.2f} {verdict}{tail}")
    return ratio > LIMIT
