"""Suppression stamps trusted without reading tree snapshots: a tree generation counter.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

Checking a stamp against its cycle's tree meant reading every cycle's snapshot on every
report. Triggers now count every write that can change a tree (teams inserted, deleted, moved
or renamed; snapshot rows written) in the one-row table `tree_generations`, and each stamp
records the generation it was decided at and whether its snapshot equalled the teams then
(pulse.reporting.fast, "The tree generation"). Stamps made before this have no generation and
are checked by their tree key, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE tree_generations SET value = value + 1 WHERE id = 1"
# (trigger name, SQLite event, PostgreSQL events, table)
_SQLITE = (
    ("tree_generation_teams_insert", "AFTER INSERT", "teams"),
    ("tree_generation_teams_delete", "AFTER DELETE", "teams"),
    ("tree_generation_teams_update", "AFTER UPDATE OF parent_id, name", "teams"),
    ("tree_generation_snapshot_insert", "AFTER INSERT", "cycle_teams"),
    ("tree_generation_snapshot_delete", "AFTER DELETE", "cycle_teams"),
    ("tree_generation_snapshot_update", "AFTER UPDATE", "cycle_teams"),
)
_POSTGRES = (
    ("tree_generation_teams", "AFTER INSERT OR DELETE OR UPDATE OF parent_id, name", "teams"),
    ("tree_generation_snapshots", "AFTER INSERT OR DELETE OR UPDATE", "cycle_teams"),
)


def upgrade() -> None:
    # Plain ADD COLUMNs: no table rebuild on SQLite (whose rebuild would trip the triggers
    # that name these tables).
    op.add_column("suppression_stamps", sa.Column("tree_generation", sa.Integer(), nullable=True))
    op.add_column("suppression_stamps", sa.Column("snapshot_current", sa.Boolean(), nullable=True))
    # An internal counter, not a setting: a table of its own, one row.
    op.create_table(
        "tree_generations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tree_generations")),
    )
    op.execute("INSERT INTO tree_generations (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION tree_generation_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        for name, events, table in _POSTGRES:
            op.execute(
                f"CREATE TRIGGER {name} {events} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION tree_generation_bump()"
            )
    else:
        for name, event, table in _SQLITE:
            op.execute(f"CREATE TRIGGER {name} {event} ON {table} BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _, table in _POSTGRES:
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION tree_generation_bump()")
    else:
        for name, _, _ in _SQLITE:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("tree_generations")
    # Plain DROP COLUMNs (SQLite 3.35+), not batch rebuilds, for the same reason.
    op.execute("ALTER TABLE suppression_stamps DROP COLUMN snapshot_current")
    op.execute("ALTER TABLE suppression_stamps DROP COLUMN tree_generation")
