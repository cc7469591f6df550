"""Replies to comments and sensitive-word lists.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

`comment_replies` names a comment and carries the replying leader's name as text: no key
from it reaches persons or invitations, so the answer side still leads to nobody.
`sensitive_words` is configuration on the identity side.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comment_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("reaction", sa.String(length=16), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_replies_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_comment_replies_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_replies")),
    )
    op.create_index(
        op.f("ix_comment_replies_comment_id"), "comment_replies", ["comment_id"], unique=False
    )
    op.create_table(
        "sensitive_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("phrase", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensitive_words")),
        sa.UniqueConstraint("category", "phrase", name=op.f("uq_sensitive_words_category_phrase")),
    )


def downgrade() -> None:
    op.drop_table("sensitive_words")
    op.drop_index(op.f("ix_comment_replies_comment_id"), table_name="comment_replies")
    op.drop_table("comment_replies")
