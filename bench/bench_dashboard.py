"""Dashboard callbacks vs the bare ceiling: the raw aggregate query plus json.dumps of its rows.

200 teams (in 10 departments) × 52 cycles of aggregates are inserted directly and stamped as an
aggregation run would; each main callback runs as Dash would: in a request of a signed-in admin,
and its output serialised to JSON with the encoder Dash uses. Its p95 is compared with the p95
of selecting the same aggregate rows with plain SQL and serialising them with json.dumps, in the
same kind of request: a fresh request context with the user loaded and signed in, which every
callback request costs whatever it does (its own p95 is printed too). Each callback and its
ceiling are timed in turns, so load from elsewhere on the machine falls on both alike.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_login import login_user
from plotly.io.json import to_json_plotly
from sqlalchemy import insert, select, text

from pulse.config import Settings
from pulse.db import make_engine, make_session_factory
from pulse.instrument import THEMES
from pulse.migrate import upgrade
from pulse.people.service import create_user
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.reporting.stamps import stamp_cycles
from pulse.reporting.trees import CycleTrees
from pulse.surveys.bank import sync_item_bank
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Item
from pulse.teams.models import Team

TEAMS = 200
DEPARTMENTS = 10
CYCLES = 52
RUNS = 60
WARMUP = 5
LIMIT = 3.0


def _seed(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(5)
    with make_session_factory(engine)() as session:
        sync_item_bank(session)
        org = Team(name="Org", kind="organisation")
        session.add(org)
        session.flush()
        departments = [
            Team(name=f"Department {d:02d}", kind="department", parent_id=org.id)
            for d in range(DEPARTMENTS)
        ]
        session.add_all(departments)
        session.flush()
        teams = [
            Team(name=f"Team {t:03d}", parent_id=departments[t % DEPARTMENTS].id)
            for t in range(TEAMS)
        ]
        session.add_all(teams)
        session.flush()
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
        items = list(session.scalars(select(Item).where(Item.theme.in_(THEMES))))
        anchors = [i for i in items if i.is_anchor]
        sizes = {t.id: rng.randint(3, 14) for t in teams}
        for d in departments:
            sizes[d.id] = sum(
                n for t, n in sizes.items() if t in {x.id for x in teams if x.parent_id == d.id}
            )
        sizes[org.id] = sum(sizes[d.id] for d in departments)
        themes, participation, item_rows = [], [], []
        last = cycles[-1].id
        for group, n in sizes.items():
            for cycle in cycles:
                for theme in THEMES:
                    mean = rng.uniform(2.5, 4.3)
                    themes.append(
                        {
                            "team_id": group,
                            "cycle_id": cycle.id,
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
                            "change": rng.choice([None] * 12 + ["up", "down"]),
                            "suppressed": n < 5,
                            "final": True,
                        }
                    )
                participation.append(
                    {"team_id": group, "cycle_id": cycle.id, "invited": n + 2, "responded": n}
                )
                for item in items if cycle.id == last else anchors:
                    item_rows.append(
                        {
                            "team_id": group,
                            "cycle_id": cycle.id,
                            "item_id": item.id,
                            "n": n,
                            "mean": 3.5,
                            "distribution": {"1": 1, "2": 1, "3": 1, "4": n - 3, "5": 0},
                            "top2_pct": 50.0,
                            "suppressed": n < 5,
                        }
                    )
        session.execute(insert(ThemeAggregate), themes)
        session.execute(insert(Participation), participation)
        session.execute(insert(ItemAggregate), item_rows)
        # What an aggregation run does after writing: decide and stamp each cycle's suppression.
        ids = [c.id for c in cycles]
        stamp_cycles(
            session,
            cycle_ids=ids,
            ks=dict.fromkeys(ids, 5),
            trees=CycleTrees.load(session, ids),
        )
        create_user(
            session, email="bench.admin@example.org", password="bench-password-123", role="admin"
        )
        session.commit()
        team = next(t.id for t in teams if sizes[t.id] >= 8)
        department = next(t.parent_id for t in teams if t.id == team)
        info = {
            "team": team,
            "department": department,
            "org": org.id,
            "cycle": last,
            "rows": len(themes),
        }
    engine.dispose()
    return info


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def _time(*calls: Callable[[], Any]) -> list[float]:
    """The p95 of each call, timed in turns (a, b, a, b, …) so that a burst of load on a
    shared machine falls on both sides of a comparison alike."""
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


def _raw(app: Flask, sql: str, **params: Any) -> Callable[[], Any]:
    engine = app.extensions["pulse.db"][0]

    def run() -> str:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text(sql), params)]
        return json.dumps(rows, default=str)

    return run


def main() -> None:
    # The web app first: it mounts the dashboard, whose modules use its extensions.
    from webapp import create_app  # isort: skip
    from dashboard import access, callbacks
    from pulse.people.models import Person
    from webapp.auth.user import SignedInUser
    from webapp.extensions import db

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        started = time.perf_counter()
        info = _seed(url)
        print(f"seeded {info['rows']} theme aggregates in {time.perf_counter() - started:.1f}s")
        settings = Settings.from_env(
            {
                "PULSE_ENV": "test",
                "PULSE_DATABASE_URL": url,
                "PULSE_SECRET_KEY": "bench-secret-key-that-is-long-enough-123",
                "PULSE_MAIL_BACKEND": "outbox",
            }
        )
        app = create_app({"PULSE": settings, "TESTING": True})

        def in_request(call: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                # A fresh request each time: access checks and the session are per request.
                with app.test_request_context("/dashboard/_dash-update-component", method="POST"):
                    person = db.session.scalars(
                        select(Person).where(Person.email == "bench.admin@example.org")
                    ).one()
                    login_user(SignedInUser.of(person))
                    return call()

            return run

        team, cycle = info["team"], info["cycle"]
        groups = f"{team}, {info['department']}, {info['org']}"
        cases = [
            (
                "overview (211 groups × 3 themes, one cycle)",
                in_request(lambda: to_json_plotly(callbacks.render_overview(cycle))),
                _raw(
                    app,
                    "SELECT a.*, t.name FROM theme_aggregates a JOIN teams t ON t.id = a.team_id "
                    "WHERE a.cycle_id = :c",
                    c=cycle,
                ),
                _raw(app, "SELECT * FROM participation WHERE cycle_id = :c", c=cycle),
            ),
            (
                "team view (52 cycles: themes, anchors, participation, actions)",
                in_request(lambda: to_json_plotly(callbacks.render_team(team))),
                _raw(
                    app,
                    "SELECT a.*, c.opens_at FROM theme_aggregates a JOIN cycles c "
                    "ON c.id = a.cycle_id WHERE a.team_id = :t",
                    t=team,
                ),
                _raw(
                    app,
                    "SELECT i.*, p.invited, p.responded FROM item_aggregates i JOIN items m ON "
                    "m.id = i.item_id LEFT JOIN participation p ON p.team_id = i.team_id AND "
                    "p.cycle_id = i.cycle_id WHERE i.team_id = :t AND m.is_anchor",
                    t=team,
                ),
            ),
            (
                "items (18 items, one cycle)",
                in_request(lambda: to_json_plotly(callbacks.render_items(team, cycle))),
                _raw(
                    app,
                    "SELECT i.*, m.code, m.wording FROM item_aggregates i JOIN items m ON "
                    "m.id = i.item_id WHERE i.team_id = :t AND i.cycle_id = :c",
                    t=team,
                    c=cycle,
                ),
                None,
            ),
            (
                "compare (team, department, organisation)",
                in_request(lambda: to_json_plotly(callbacks.render_compare(team, cycle))),
                _raw(
                    app,
                    f"SELECT * FROM theme_aggregates WHERE cycle_id = :c AND team_id IN ({groups})",
                    c=cycle,
                ),
                None,
            ),
            (
                "cycle picker (52 cycles)",
                in_request(
                    lambda: to_json_plotly(
                        callbacks.overview_cycle_options(access.current_viewer())
                    )
                ),
                _raw(
                    app,
                    "SELECT DISTINCT c.id, c.opens_at, c.status FROM cycles c JOIN "
                    "theme_aggregates a ON a.cycle_id = c.id WHERE a.team_id = :t "
                    "ORDER BY c.opens_at DESC",
                    t=team,
                ),
                None,
            ),
        ]
        (scaffold,) = _time(in_request(lambda: None))
        print(
            "request scaffolding alone (fresh request, user loaded, signed in), on both sides: "
            f"{scaffold * 1000:.2f} ms p95"
        )
        print(f"{'callback':<62} {'p95 ms':>7} {'ceiling ms':>10} {'ratio':>6}")
        failed = False
        for name, ours, raw, extra in cases:
            ceiling_calls = [raw] + ([extra] if extra else [])
            ours_p95, ceiling_p95 = _time(
                ours, in_request(lambda calls=ceiling_calls: [c() for c in calls])
            )
            ratio = ours_p95 / ceiling_p95
            failed |= ratio > LIMIT
            verdict = "ok" if ratio <= LIMIT else f"OVER {LIMIT:.0f}×"
            print(
                f"{name:<62} {ours_p95 * 1000:7.1f} {ceiling_p95 * 1000:10.1f} "
                f"{ratio:6.2f} {verdict}"
            )
        app.extensions["pulse.db"][0].dispose()
        print("target: each ratio ≤ 3.0" + (" — NOT MET" if failed else " — met"))
