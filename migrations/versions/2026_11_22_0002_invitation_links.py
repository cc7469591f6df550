"""Every emailed link stays valid: link hashes move from invitations to invitation_links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

SQLite rebuilds a table to drop or add a column, and dropping the old copy fires ON DELETE
CASCADE on whatever refers to it; so the hashes wait in a plain stash table while invitations
is rebuilt, and only then move into invitation_links.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


STASH = "invitation_link_stash"


def _create_links() -> None:
    op.create_table(
        "invitation_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_invitation_links_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_invitation_links")),
    )
    with op.batch_alter_table("invitation_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invitation_links_invitation_id"), ["invitation_id"], unique=False
        )


def upgrade() -> None:
    op.execute(
        f"CREATE TABLE {STASH} AS SELECT token_hash, id AS invitation_id, "
        "COALESCE(sent_at, created_at) AS created_at FROM invitations "
        "WHERE token_hash IS NOT NULL"
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_invitations_token_hash"), type_="unique")
        batch_op.drop_column("token_hash")
    _create_links()
    op.execute(
        "INSERT INTO invitation_links (token_hash, invitation_id, created_at) "
        f"SELECT token_hash, invitation_id, created_at FROM {STASH}"
    )
    op.drop_table(STASH)


def downgrade() -> None:
    # Only one link per invitation fits the old column: keep the newest.
    op.execute(
        f"CREATE TABLE {STASH} AS SELECT l.invitation_id, l.token_hash FROM invitation_links l "
        "WHERE l.created_at = (SELECT MAX(m.created_at) FROM invitation_links m "
        "WHERE m.invitation_id = l.invitation_id)"
    )
    with op.batch_alter_table("invitation_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_links_invitation_id"))
    op.drop_table("invitation_links")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_invitations_token_hash"), ["token_hash"])
    op.execute(
        f"UPDATE invitations SET token_hash = (SELECT MIN(s.token_hash) FROM {STASH} s "
        "WHERE s.invitation_id = invitations.id)"
    )
    op.drop_table(STASH)
