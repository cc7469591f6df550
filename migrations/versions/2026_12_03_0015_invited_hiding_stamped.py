"""Participation's invited counts hidden once per cycle, with the rest of its hiding.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

Which groups' numbers invited a report must hide depends on every group's count in the cycle,
so deciding it on every read cost a department leader's dashboard as much as the whole
organisation. The aggregation run now decides it with the cycle's other flags and keeps it in
participation's `invited_hidden`; the stamp records the participation threshold it holds for
(NULL: not decided, so reports decide it themselves on the read, as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs with constant defaults: no table rebuild on SQLite (whose rebuild would
    # trip the triggers that name these tables).
    op.add_column(
        "participation",
        sa.Column("invited_hidden", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "suppression_stamps", sa.Column("participation_threshold", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+), not batch rebuilds, for the same reason.
    op.execute("ALTER TABLE suppression_stamps DROP COLUMN participation_threshold")
    op.execute("ALTER TABLE participation DROP COLUMN invited_hidden")
