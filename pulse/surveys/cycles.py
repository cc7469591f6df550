"""Creating cycles with the items their program asks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from pulse.instrument import items_for_cycle, module_for_cycle
from pulse.organisation.service import Thresholds, effective_thresholds
from pulse.organisation.service import thresholds as thresholds_in_force
from pulse.surveys.bank import current_items
from pulse.surveys.models import Cycle, CycleItem


def create_cycle(
    session: Session,
    *,
    schedule_id: int | None,
    period_key: str,
    sequence: int,
    program: str,
    opens_at: datetime,
    closes_at: datetime,
    thresholds: Thresholds | None = None,
) -> Cycle:
    """A new open cycle asking the live version of each item its program calls for.

    The cycle locks the confidentiality thresholds in force as it opens (`thresholds`, or the
    organisation's settings with the built-in defaults when None): its people are told them on
    the answer page, so a later lowering must not apply to it.
    """
    if closes_at <= opens_at:
        raise ValueError("a cycle must close after it opens")
    live = current_items(session)
    codes = items_for_cycle(program, sequence)
    missing = [code for code in codes if code not in live]
    if missing:
        raise ValueError(f"the item bank lacks {', '.join(missing)}; run `pulse db upgrade`")
    cycle = Cycle(
        schedule_id=schedule_id,
        period_key=period_key,
        sequence=sequence,
        program=program,
        module=module_for_cycle(program, sequence),
        opens_at=opens_at,
        closes_at=closes_at,
        status="open",
    )
    locked = thresholds_in_force(session) if thresholds is None else thresholds
    cycle.k_scores = locked.scores
    cycle.k_participation = locked.participation
    cycle.k_comments = locked.comments
    cycle.items = [
        CycleItem(item_id=live[code].id, position=position) for position, code in enumerate(codes)
    ]
    session.add(cycle)
    session.flush()
    return cycle


def cycle_thresholds(cycle: Cycle, current: Thresholds) -> Thresholds:
    """The thresholds that apply to `cycle` given the settings `current`ly in force.

    Per kind, the larger of what the cycle locked when it opened and what is set now (see
    `effective_thresholds`); a kind the cycle did not lock (a cycle opened before locking
    existed) follows the current setting.
    """
    locked = Thresholds(
        scores=current.scores if cycle.k_scores is None else cycle.k_scores,
        participation=(
            current.participation if cycle.k_participation is None else cycle.k_participation
        ),
        comments=current.comments if cycle.k_comments is None else cycle.k_comments,
    )
    return effective_thresholds(locked, current)
