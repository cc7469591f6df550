"""The migrations build exactly the models' schema, round-trip, and keep answers anonymous."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pulse.answers.models import ANSWER_SIDE_TABLES
from pulse.db import make_engine
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
