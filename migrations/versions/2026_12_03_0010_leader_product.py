"""The leaders' product: actions gain an owner, a due date and a status.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Actions gain follow-through: an owner (as the team names it), a due date and a status.
    op.add_column("team_actions", sa.Column("owner", sa.String(120), nullable=True))
    op.add_column("team_actions", sa.Column("due_on", sa.Date(), nullable=True))
    op.add_column(
        "team_actions",
        sa.Column("status", sa.String(12), nullable=False, server_default="planned"),
    )


def downgrade() -> None:
    for column in ("status", "due_on", "owner"):
        op.execute(f"ALTER TABLE team_actions DROP COLUMN {column}")
