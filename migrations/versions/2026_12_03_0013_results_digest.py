"""Results-ready digests: a per-leader opt-out and a record of each digest sent.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Both tables are on the identity side: they name a person and a cycle, never a response.
`results_digests` has one row per leader × cycle, claimed before its email is sent, so a
retried or doubled task sends nothing twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_preferences",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_digest_preferences_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_digest_preferences")),
    )
    op.create_table(
        "results_digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_results_digests_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_results_digests_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results_digests")),
        sa.UniqueConstraint(
            "person_id", "cycle_id", name=op.f("uq_results_digests_person_id_cycle_id")
        ),
    )
    op.create_index(
        op.f("ix_results_digests_cycle_id"), "results_digests", ["cycle_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_results_digests_cycle_id"), table_name="results_digests")
    op.drop_table("results_digests")
    op.drop_table("digest_preferences")
