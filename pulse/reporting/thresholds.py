"""The thresholds each cycle is reported at: locked when it opened, raised by later settings.

A cycle keeps the thresholds in force when it opened (pulse.surveys.models.Cycle.k_*). A
setting raised later applies to it at once, since hiding more never reveals anything; a
setting lowered later applies only to cycles that open afterwards, so nobody's answers are
shown under a rule laxer than the one stated on the page they answered. A cycle opened before
thresholds were locked follows the settings in force.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from pulse.confidentiality import validate_threshold
from pulse.reporting.fast import marks, run_sql

KINDS = ("scores", "participation", "comments")


def effective(locked: int | None, current: int) -> int:
    """The threshold a cycle is reported at, given the one it locked and the one in force."""
    return validate_threshold(current if locked is None else max(locked, current))


def cycle_thresholds(
    session: Session, cycle_ids: Collection[int], *, current: int, kind: str = "scores"
) -> dict[int, int]:
    """Each cycle's threshold of one kind, given the setting of that kind in force now."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of threshold {kind!r}")
    wanted = sorted(set(cycle_ids))
    validate_threshold(current)
    found = run_sql(
        session,
        f"SELECT id, k_{kind} FROM cycles WHERE id IN ({marks(len(wanted))})",
        wanted,
    )
    return {cycle_id: effective(locked, current) for cycle_id, locked in found}
