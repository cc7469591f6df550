"""Instrument health page: alpha per theme and quarter, flagged below .60, and the item bank."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Response
from pulse.instrument import ITEM_BANK, theme_items
from pulse.people.models import Person
from pulse.reporting.instrument_health import theme_reliability
from pulse.surveys.bank import current_items
from pulse.surveys.cycles import create_cycle
from pulse.teams.models import Team
from tests.conftest import sign_in


def answer_cycle(session: Session, opens: datetime, *, people: int, consistent: bool) -> None:
    team = session.query(Team).first() or Team(name="Acme", kind="organisation")
    session.add(team)
    cycle = create_cycle(
        session,
        schedule_id=None,
        period_key=opens.isoformat(),
        sequence=0,  # rotating cycle 0 asks the whole safety module
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    # Health is read on closed cycles only (an open one is sealed).
    cycle.status = "closed"
    live = current_items(session)
    rng = random.Random(opens.month)
    for _ in range(people):
        level = rng.randint(1, 5)
        answers = []
        for item in theme_items("safety"):
            value = level if consistent else rng.randint(1, 5)
            if consistent and item.reverse:
                value = 6 - value
            answers.append(Answer(item_id=live[item.code].id, value=value))
        session.add(
            Response(cycle_id=cycle.id, team_id=team.id, submitted_on=opens.date(), answers=answers)
        )
    session.commit()


def test_alpha_per_quarter_flags_low_reliability(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    answer_cycle(session, datetime(2026, 2, 2, 9, tzinfo=UTC), people=12, consistent=True)
    answer_cycle(session, datetime(2026, 5, 4, 9, tzinfo=UTC), people=30, consistent=False)
    answer_cycle(session, datetime(2026, 8, 3, 9, tzinfo=UTC), people=4, consistent=True)
    results = {(r.quarter, r.theme): r for r in theme_reliability(session, min_responses=10)}
    q1, q2, q3 = (
        results[("2026-Q1", "safety")],
        results[("2026-Q2", "safety")],
        results[("2026-Q3", "safety")],
    )
    assert q1.alpha is not None and q1.alpha > 0.99 and q1.status == "ok"
    assert q1.items == 6 and q1.responses == 12
    assert q2.alpha is not None and q2.alpha < 0.6 and q2.status == "low"
    assert q3.alpha is None and q3.status == "too few"
    assert ("2026-Q1", "learning") not in results  # the learning module was never asked
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    html = client.get("/admin/instrument").get_data(as_text=True)
    assert "flagged: below 0.60" in html and "too few complete responses" in html
    assert "safety.anchor" in html and "live" in html


def test_the_item_bank_marks_every_reverse_worded_item_and_only_those(
    client: FlaskClient, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    html = client.get("/admin/instrument").get_data(as_text=True)
    rows = html.split("<tr><td><code>")[1:]
    marked = {row.split("</code>")[0] for row in rows if "reverse-worded" in row.split("</td>")[0]}
    assert marked == {item.code for item in ITEM_BANK if item.reverse}
    assert marked  # the instrument has reverse-worded items in every theme
