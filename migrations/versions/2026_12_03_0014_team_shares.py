"""Shared team results: token links a leader gives a team for one closed cycle.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Both tables are on the identity side: a share names a team, a cycle and the leader who made
it; a delivery names the person emailed. Nothing here keys to responses, answers or comments.
Only the hash of a share's link token is stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_salt", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_shares_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_team_shares_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["persons.id"],
            name=op.f("fk_team_shares_created_by_persons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_shares")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_team_shares_token_hash")),
    )
    op.create_index(
        "ix_team_shares_team_cycle", "team_shares", ["team_id", "cycle_id"], unique=False
    )
    op.create_table(
        "share_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["team_shares.id"],
            name=op.f("fk_share_deliveries_share_id_team_shares"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_share_deliveries_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_deliveries")),
        sa.UniqueConstraint(
            "share_id", "person_id", name=op.f("uq_share_deliveries_share_id_person_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("share_deliveries")
    op.drop_index("ix_team_shares_team_cycle", table_name="team_shares")
    op.drop_table("team_shares")
