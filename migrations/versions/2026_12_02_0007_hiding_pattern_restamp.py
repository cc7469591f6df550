"""Stored hiding flags are decided again: one pattern per cycle and group.

Participation's `hidden` flag now holds the cycle's hiding pattern, decided on the number
who answered (it was decided on the number invited), and theme and item flags start from
it. Flags stored before this revision were decided the old way, so every suppression stamp
is dropped: reports decide each cycle on the read until the aggregation sweep stamps it
again with flags of the new kind.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM suppression_stamps")


def downgrade() -> None:
    # The old readers decide an unstamped cycle on the read as well: nothing to restore.
    op.execute("DELETE FROM suppression_stamps")
