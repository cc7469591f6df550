"""The events of the survey calendar that webhooks announce, and what each one carries.

Payloads name the cycle only, never a figure: a receiver that wants results reads them
through the API, under its token's role and the confidentiality rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from pulse.surveys.models import Cycle
from pulse.webhooks.service import owe_event


def cycle_data(cycle: Cycle) -> dict[str, Any]:
    """What an event says about its cycle."""
    return {
        "cycle_id": cycle.id,
        "schedule_id": cycle.schedule_id,
        "opens_at": cycle.opens_at.isoformat(),
        "closes_at": cycle.closes_at.isoformat(),
    }


def owe_cycle_events(
    session: Session, *, opened: Iterable[int], closed: Iterable[int], now: datetime
) -> list[int]:
    """cycle.opened and cycle.closed deliveries for these cycles; returns the delivery ids."""
    owed: list[int] = []
    for event, cycle_ids in (("cycle.opened", opened), ("cycle.closed", closed)):
        for cycle_id in cycle_ids:
            cycle = session.get(Cycle, cycle_id)
            if cycle is not None:
                owed += owe_event(
                    session,
                    event=event,
                    subject=f"cycle:{cycle_id}",
                    data=cycle_data(cycle),
                    now=now,
                )
    return owed


def owe_results_ready(session: Session, *, cycle_id: int, now: datetime) -> list[int]:
    """results.ready deliveries once a closed cycle's final figures are written."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or cycle.status != "closed":
        return []
    return owe_event(
        session,
        event="results.ready",
        subject=f"cycle:{cycle_id}",
        data=cycle_data(cycle),
        now=now,
    )
