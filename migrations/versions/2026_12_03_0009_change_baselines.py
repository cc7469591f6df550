"""Change flags explain themselves: what each was compared with; favourable shares count answers.

A flag compares the last two cycles of a group's theme score (this one and the one before,
where shown) with the same group's shown cycles of the previous twelve that asked the same
items (docs/statistics.md). Each tested row now keeps that comparison: the window's n and
number of cycles, the baseline's n, mean and number of cycles, the 95 % interval of the
change, and the ids of every other cycle the test read, so that a report can drop the flag
when any of them is hidden by the time it is read. Rows tested before this revision keep
NULLs until `pulse aggregate --all` decides their flags again.

The favourable share becomes the share of answers at 4–5 after reverse coding (INSTRUMENT.md,
Scoring 4): `favourable_n` now counts answers, `answers_n` the answers they are out of, and
three sums over people (favourable², favourable × answers, answers²) give the interval that
allows for each person answering several items, and subtract for "the rest of the
organisation" as counts do. `pulse aggregate --all` fills them for earlier cycles.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("answers_n", sa.Integer()),
    ("favourable_sq", sa.Integer()),
    ("favourable_cross", sa.Integer()),
    ("answers_sq", sa.Integer()),
    ("window_n", sa.Integer()),
    ("window_cycles", sa.Integer()),
    ("baseline_n", sa.Integer()),
    ("baseline_mean", sa.Float()),
    ("baseline_cycles", sa.Integer()),
    ("delta_low", sa.Float()),
    ("delta_high", sa.Float()),
    ("compared_cycles", sa.String(length=400)),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column("theme_aggregates", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not a batch rebuild of the aggregates table.
    for name, _ in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE theme_aggregates DROP COLUMN {name}")
