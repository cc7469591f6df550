"""The migrations build exactly the models' schema, round-trip, and keep answers anonymous."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from pulse.answers.models import ANSWER_SIDE_TABLES
from pulse.db import make_engine, utcnow
from pulse.migrate import downgrade, upgrade
from pulse.models import Base

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@BOTH
def test_upgrade_downgrade_upgrade_round_trips(database_url: str) -> None:
    engine = make_engine(database_url)
    tables = set(Base.metadata.tables)
    assert tables <= set(inspect(engine).get_table_names())
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine, "head")
    assert tables <= set(inspect(engine).get_table_names())
    engine.dispose()


@BOTH
def test_autogenerate_finds_no_difference(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def _foreign_targets(inspector: object, table: str) -> set[str]:
    return {fk["referred_table"] for fk in inspector.get_foreign_keys(table)}  # type: ignore[attr-defined]


@BOTH
def test_no_path_from_the_answer_side_leads_to_a_person(database_url: str) -> None:
    """No foreign key chain, column or index on the answer side reaches persons or invitations."""
    engine = make_engine(database_url)
    inspector = inspect(engine)
    identity = {
        "persons",
        "invitations",
        "role_grants",
        "memberships",
        "account_tokens",
        "audit_events",
    }
    reachable: set[str] = set()
    frontier = set(ANSWER_SIDE_TABLES)
    while frontier:
        table = frontier.pop()
        for target in _foreign_targets(inspector, table):
            if target not in reachable:
                reachable.add(target)
                frontier.add(target)
    assert reachable & identity == set()
    for table in ANSWER_SIDE_TABLES:
        columns = {column["name"] for column in inspector.get_columns(table)}
        assert not {c for c in columns if "person" in c or "invitation" in c or "email" in c}
        timestamps = [
            c["name"] for c in inspector.get_columns(table) if "TIME" in str(c["type"]).upper()
        ]
        assert timestamps == [], f"{table} keeps time finer than a day: {timestamps}"
        for index in inspector.get_indexes(table):
            assert not any(
                "person" in (name or "") or "invitation" in (name or "")
                for name in index["column_names"]
            )
    engine.dispose()


def test_responses_have_random_ids_and_day_granularity() -> None:
    responses = Base.metadata.tables["responses"]
    assert str(responses.c.id.type).startswith("VARCHAR")
    assert str(responses.c.submitted_on.type) == "DATE"


@BOTH
def test_link_hashes_move_to_their_own_table_and_back(database_url: str) -> None:
    """0002 keeps every link that was sent before it; going back keeps the newest one."""
    engine = make_engine(database_url)
    downgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO teams (id, name, kind, created_at) VALUES (1, 'T', 'team', :now)"),
            {"now": utcnow()},
        )
        connection.execute(
            text(
                "INSERT INTO persons (id, email, name, active, created_at) "
                "VALUES (1, 'a@example.org', 'A', true, :now)"
            ),
            {"now": utcnow()},
        )
        connection.execute(
            text(
                "INSERT INTO cycles (id, period_key, sequence, program, opens_at, closes_at,"
                " status, created_at) VALUES (1, 'p', 0, 'rotating', :now, :now, 'open', :now)"
            ),
            {"now": utcnow()},
        )
        connection.execute(
            text(
                "INSERT INTO invitations (id, cycle_id, person_id, team_id, token_hash,"
                " delivery_state, attempts, reminders_sent, answered, created_at)"
                " VALUES (1, 1, 1, 1, 'abc', 'sent', 1, 0, false, :now)"
            ),
            {"now": utcnow()},
        )
    upgrade(engine, "head")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT token_hash, invitation_id FROM invitation_links")
        ).all()
    assert [tuple(row) for row in rows] == [("abc", 1)]
    downgrade(engine, "0001")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT token_hash FROM invitations")).scalar() == "abc"
    engine.dispose()
