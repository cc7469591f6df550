"""A small reporting world for dashboard tests: two departments, three teams, aggregates."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_login import login_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from pulse import demo
from pulse.instrument import THEMES
from pulse.people.models import Person
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle, Item
from pulse.teams.models import Team
from tests.conftest import IN_CI, make_settings
from tests.support.browser import chromium_browser
from webapp import create_app
from webapp.auth.user import SignedInUser
from worker.embedded_redis import EmbeddedRedis

K = 5


@dataclass
class World:
    org: Team
    eng: Team
    ops: Team
    alpha: Team
    beta: Team
    gamma: Team
    cycles: list[Cycle] = field(default_factory=list)

    def team(self, name: str) -> Team:
        return getattr(self, name)  # type: ignore[no-any-return]


def add_theme(
    session: Session,
    team: Team,
    cycle: Cycle,
    theme: str,
    *,
    n: int,
    mean: float = 3.6,
    change: str | None = None,
) -> ThemeAggregate:
    row = ThemeAggregate(
        team_id=team.id,
        cycle_id=cycle.id,
        theme=theme,
        n=n,
        mean=mean,
        sd=0.6,
        ci_low=mean - 0.3,
        ci_high=mean + 0.3,
        favourable_n=n // 2,
        favourable_pct=50.0,
        fav_low=30.0,
        fav_high=70.0,
        change=change,
        suppressed=n < K,
        final=True,
    )
    session.add(row)
    return row


def add_anchor(session: Session, team: Team, cycle: Cycle, theme: str, *, n: int) -> None:
    item = session.scalars(
        select(Item).where(Item.code == f"{theme}.anchor").order_by(Item.version.desc())
    ).first()
    assert item is not None
    distribution = {"1": 0, "2": 1, "3": 1, "4": n - 3, "5": 1} if n >= 3 else {"4": n}
    session.add(
        ItemAggregate(
            team_id=team.id,
            cycle_id=cycle.id,
            item_id=item.id,
            n=n,
            mean=3.5,
            distribution=distribution,
            top2_pct=60.0,
            suppressed=n < K,
        )
    )


@pytest.fixture
def world(session: Session) -> World:
    org = Team(name="Acme", kind="organisation")
    session.add(org)
    session.flush()
    eng = Team(name="Engineering", kind="department", parent_id=org.id)
    ops = Team(name="Operations", kind="department", parent_id=org.id)
    session.add_all([eng, ops])
    session.flush()
    alpha = Team(name="Alpha", parent_id=eng.id)
    beta = Team(name="Beta", parent_id=eng.id)
    gamma = Team(name="Gamma", parent_id=ops.id)
    session.add_all([alpha, beta, gamma])
    session.flush()
    start = datetime(2026, 9, 7, 8, tzinfo=UTC)
    world = World(org=org, eng=eng, ops=ops, alpha=alpha, beta=beta, gamma=gamma)
    for sequence in range(3):
        opens = start + timedelta(weeks=2 * sequence)
        cycle = create_cycle(
            session,
            schedule_id=None,
            period_key=f"test-{sequence}",
            sequence=sequence,
            program="full",
            opens_at=opens,
            closes_at=opens + timedelta(days=5),
        )
        cycle.status = "closed"
        world.cycles.append(cycle)
    session.flush()
    session.commit()
    return world


@pytest.fixture
def populate(session: Session, world: World) -> Callable[..., None]:
    """Aggregates for every team, cycle and theme: n per team name, change on the last cycle."""

    def fill(sizes: dict[str, int], changes: dict[tuple[str, str], str] | None = None) -> None:
        for name, n in sizes.items():
            team = world.team(name)
            for index, cycle in enumerate(world.cycles):
                last = index == len(world.cycles) - 1
                for theme in THEMES:
                    change = (changes or {}).get((name, theme)) if last else None
                    row = add_theme(
                        session, team, cycle, theme, n=n, mean=3.2 + 0.2 * index, change=change
                    )
                    if last:
                        # The last cycle's test read the earlier ones, as a real run records.
                        row.compared_cycles = ",".join(str(c.id) for c in world.cycles[:-1])
                    add_anchor(session, team, cycle, theme, n=n)
                session.add(
                    Participation(team_id=team.id, cycle_id=cycle.id, invited=n + 2, responded=n)
                )
        session.commit()

    return fill


@pytest.fixture
def signed_in(app: Flask, session: Session) -> Callable[[Person], object]:
    """A test request context with `person` signed in, as a Dash callback would run."""

    @contextmanager
    def context(person: Person) -> Iterator[None]:
        session.refresh(person)
        with app.test_request_context("/dashboard/_dash-update-component", method="POST"):
            login_user(SignedInUser.of(person))
            yield

    return context  # type: ignore[return-value]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser(IN_CI) as browser:
        yield browser


@pytest.fixture(scope="module")
def demo_app(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, redis_server: EmbeddedRedis
) -> Iterator[tuple[Flask, str]]:
    """The real app on a demo database with its aggregates, served on 127.0.0.1."""
    path = tmp_path_factory.mktemp("browser") / "demo.db"
    path.write_bytes(sqlite_template.read_bytes())
    settings = make_settings(f"sqlite:///{path}", redis_server.url)
    app = create_app({"PULSE": settings, "RATELIMIT_ENABLED": False})
    with app.app_context():
        factory = app.extensions["pulse.db"][1]
        with factory() as session:
            demo.seed(session)
            rebuild_all(session, threshold=settings.threshold)
            session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["pulse.db"][0].dispose()
