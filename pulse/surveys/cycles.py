"""Creating cycles with the items their program asks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from pulse.instrument import items_for_cycle, module_for_cycle
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
) -> Cycle:
    """A new open cycle asking the live version of each item its program calls for."""
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
    cycle.items = [
        CycleItem(item_id=live[code].id, position=position) for position, code in enumerate(codes)
    ]
    session.add(cycle)
    session.flush()
    return cycle
