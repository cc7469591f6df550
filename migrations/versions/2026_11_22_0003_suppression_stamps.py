"""Suppression decided once per cycle: stamps, and a hidden flag on participation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Cycles have no stamp after this upgrade, so reports keep deciding suppression on every read
until the next aggregation (or `pulse aggregate --all`, or the sweep) stamps them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suppression_stamps",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("tree_key", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_suppression_stamps_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_suppression_stamps")),
    )
    # A plain ADD COLUMN with a constant default: no table rebuild on SQLite.
    op.add_column(
        "participation",
        sa.Column("hidden", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("participation", schema=None) as batch_op:
        batch_op.drop_column("hidden")
    op.drop_table("suppression_stamps")
