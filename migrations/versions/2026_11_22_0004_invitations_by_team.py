"""Invitations indexed by team and cycle: the dashboard asks which cycles a team was in.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invitations_team_cycle", "invitations", ["team_id", "cycle_id"])


def downgrade() -> None:
    op.drop_index("ix_invitations_team_cycle", table_name="invitations")
