"""Resources an identity provider provisioned, kept as it sent them (identity side)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base, UTCDateTime, utcnow


class ProvisionedResource(Base):
    """A SCIM User or Group as last written, and the person or team it provisions.

    The whole resource is kept so that the provider reads back what it wrote (SCIM clients
    compare); Team Pulse itself reads only the person or team it is mirrored to. Passwords
    are dropped before a resource is stored.
    """

    __tablename__ = "provisioned_resources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), default=None, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
