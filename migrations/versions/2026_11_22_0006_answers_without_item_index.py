"""Answers lose their index on item_id: nothing reads answers by item alone.

Answers are read by response (the primary key's first column) and by cycle through their
responses; no query filters them by item. The index cost every submit one more B-tree
entry per answer, a page of its own per item in SQLite's write-ahead log. Items are never
deleted (editing one creates a new version), so the foreign key's check on a deleted item,
the one reader left, does not need it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_answers_item_id", table_name="answers")


def downgrade() -> None:
    op.create_index("ix_answers_item_id", "answers", ["item_id"])
