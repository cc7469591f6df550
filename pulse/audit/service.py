"""Recording audit events; callers commit with the change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.people.models import Person


def record(
    session: Session,
    *,
    actor: Person | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session, in the same transaction as the change itself."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else "system",
        action=action,
        target=target[:200],
        detail=detail or {},
    )
    session.add(event)
    return event
