"""Each cycle keeps its team tree and its confidentiality thresholds from when it opened.

`cycle_teams` holds every team of the tree as it stood when the cycle opened (parent, name,
kind); every figure of the cycle is computed on it. Cycles that opened before this revision
get the tree as it is now, the best record there is of it. The `k_*` columns lock each kind
of threshold into the cycle; they stay empty for earlier cycles, which follow the settings.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cycle_teams",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_cycle_teams_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", "team_id", name=op.f("pk_cycle_teams")),
    )
    op.execute(
        "INSERT INTO cycle_teams (cycle_id, team_id, parent_id, name, kind) "
        "SELECT c.id, t.id, t.parent_id, t.name, t.kind FROM cycles c CROSS JOIN teams t"
    )
    for column in ("k_scores", "k_participation", "k_comments"):
        op.add_column("cycles", sa.Column(column, sa.Integer(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not a batch rebuild: rebuilding `cycles` would
    # drop the table its invitations and answers cascade from.
    for column in ("k_scores", "k_participation", "k_comments"):
        op.execute(f"ALTER TABLE cycles DROP COLUMN {column}")
    op.drop_table("cycle_teams")
