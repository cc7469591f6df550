"""What reports receive: rows already suppressed and rounded for display (INSTRUMENT.md).

Means and their intervals are rounded to 0.1 and percentages to whole numbers here, in the
one place every report reads through; storage keeps full precision. A suppressed row carries
no figure at all, only `suppressed=True` and the reason, whether the group had some
responses or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ThemeRow:
    """One group's score on one theme in one cycle; change is 'up', 'down' or None."""

    team_id: int
    team: str
    parent: str | None
    cycle_id: int
    cycle_opened: date
    theme: str
    n: int | None
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    favourable_pct: int | None
    fav_low: int | None
    fav_high: int | None
    change: str | None
    suppressed: bool
    reason: str | None
    # Why nothing is shown: a pulse.reporting.pattern state (few, complement, open, ...).
    state: str | None = None
    # What the change test compared (docs/statistics.md), None where no test was made or the
    # row is hidden: the change with its 95 % interval, the window it was measured over (this
    # cycle and the one before) and the earlier cycles asking the same items it was set against.
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    window_n: int | None = None
    window_cycles: int | None = None
    baseline_n: int | None = None
    baseline_mean: float | None = None
    baseline_cycles: int | None = None


@dataclass(frozen=True)
class ParticipationRow:
    """Invited and responded counts and the response rate (percent, whole) of a group."""

    team_id: int
    team: str
    cycle_id: int
    invited: int | None
    responded: int | None
    rate: int | None
    state: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ItemRow:
    """Raw answer distribution of one item version (drill-down only); keys 1..5."""

    team_id: int
    cycle_id: int
    item_code: str
    item_version: int
    wording: str
    theme: str
    n: int | None
    distribution: dict[int, int] | None
    top2_pct: int | None
    suppressed: bool
    state: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AnchorRow:
    """A team's mean answer to a theme's anchor item in one cycle; None where hidden."""

    cycle_id: int
    theme: str
    mean: float | None


@dataclass(frozen=True)
class CommentRow:
    """A comment as shown: its theme tag and text, nothing that could date or link it.

    `body` is already masked (names, emails, phones: pulse.comments.masking). `handle` is what
    a leader replies to: the comment's own random id, which names no person, response or
    invitation a leader could reach (None where a report has no use for it).
    """

    theme: str | None
    body: str
    handle: str | None = None


@dataclass(frozen=True)
class CycleRow:
    """A cycle a report can be about."""

    id: int
    opened: date
    status: str
