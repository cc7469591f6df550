"""Aggregates keep no foreign keys and no surrogate ids: their own keys are their primary keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Aggregates are figures derived from answers and rewritten by every aggregation run. Their
foreign keys only checked, row by row, ids the run had just read from those very tables: on
PostgreSQL that check cost more than writing the rows (a first build writes over a hundred
thousand). What the keys carried, deleting a team or cycle deletes its aggregates, is kept by
an AFTER DELETE trigger on teams, cycles and items (one statement per delete on PostgreSQL);
an item's aggregates now go with it instead of refusing its deletion (an item that still has
answers cannot be deleted anyway). Theme and item aggregates also lose their `id`, which
nothing referred to: (team, cycle, theme or item) becomes the primary key in place of the
unique constraint, sparing each written row a sequence value and an index entry.

SQLite drops a table's triggers when the table is rebuilt: a later migration that alters
teams, cycles or items in batch mode must create their trigger again (tests/pulse/
test_reporting_cleanup.py fails otherwise).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, its foreign keys to drop: (name, column, referred table, on delete)).
_FOREIGN_KEYS = {
    "theme_aggregates": (
        ("fk_theme_aggregates_team_id_teams", "team_id", "teams", "CASCADE"),
        ("fk_theme_aggregates_cycle_id_cycles", "cycle_id", "cycles", "CASCADE"),
    ),
    "item_aggregates": (
        ("fk_item_aggregates_team_id_teams", "team_id", "teams", "CASCADE"),
        ("fk_item_aggregates_cycle_id_cycles", "cycle_id", "cycles", "CASCADE"),
        ("fk_item_aggregates_item_id_items", "item_id", "items", None),
    ),
    "participation": (
        ("fk_participation_team_id_teams", "team_id", "teams", "CASCADE"),
        ("fk_participation_cycle_id_cycles", "cycle_id", "cycles", "CASCADE"),
    ),
}
# Tables whose surrogate id gives way to their own key as primary key.
_NATURAL_KEYS = {
    "theme_aggregates": ("team_id", "cycle_id", "theme"),
    "item_aggregates": ("team_id", "cycle_id", "item_id"),
}
# The deleted table, the aggregate column naming its rows, and the aggregate tables.
_CLEANUPS = (
    ("teams", "team_id", ("theme_aggregates", "item_aggregates", "participation")),
    ("cycles", "cycle_id", ("theme_aggregates", "item_aggregates", "participation")),
    ("items", "item_id", ("item_aggregates",)),
)


def _trigger(table: str) -> str:
    return f"{table}_delete_aggregates"


def _unique(table: str) -> str:
    return f"uq_{table}_{'_'.join(_NATURAL_KEYS[table])}"


def upgrade() -> None:
    for table, keys in _FOREIGN_KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _, _, _ in keys:
                batch_op.drop_constraint(name, type_="foreignkey")
            if table in _NATURAL_KEYS:
                batch_op.drop_constraint(_unique(table), type_="unique")
                batch_op.drop_constraint(f"pk_{table}", type_="primary")
                batch_op.drop_column("id")
                batch_op.create_primary_key(f"pk_{table}", list(_NATURAL_KEYS[table]))
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, aggregates in _CLEANUPS:
        if postgres:
            deletes = " ".join(
                f"DELETE FROM {target} WHERE {column} IN (SELECT id FROM deleted);"
                for target in aggregates
            )
            op.execute(
                f"CREATE FUNCTION {_trigger(table)}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {deletes} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {_trigger(table)} AFTER DELETE ON {table} "
                "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {_trigger(table)}()"
            )
        else:
            deletes = " ".join(
                f"DELETE FROM {target} WHERE {column} = OLD.id;" for target in aggregates
            )
            op.execute(
                f"CREATE TRIGGER {_trigger(table)} AFTER DELETE ON {table} "
                f"FOR EACH ROW BEGIN {deletes} END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _, _ in _CLEANUPS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {_trigger(table)}" + (f" ON {table}" if postgres else "")
        )
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {_trigger(table)}()")
    for table, keys in _FOREIGN_KEYS.items():
        # A row naming a deleted parent (a run racing the delete) would fail its key: drop it.
        for _, column, referred, _ in keys:
            op.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM {referred})")
        if table in _NATURAL_KEYS:
            _restore_id(table, postgres=postgres)
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, column, referred, ondelete in keys:
                batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=ondelete)


def _restore_id(table: str, *, postgres: bool) -> None:
    """The surrogate id back as primary key, numbering the stored rows, and the unique key."""
    if postgres:
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.execute(f"ALTER TABLE {table} ADD COLUMN id SERIAL")
        op.create_primary_key(f"pk_{table}", table, ["id"])
        op.create_unique_constraint(_unique(table), table, list(_NATURAL_KEYS[table]))
        return
    # On SQLite an INTEGER PRIMARY KEY numbers the rows copied into the rebuilt table.
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.add_column(sa.Column("id", sa.Integer(), nullable=False), insert_before="team_id")
        batch_op.create_primary_key(f"pk_{table}", ["id"])
        batch_op.create_unique_constraint(_unique(table), list(_NATURAL_KEYS[table]))
