"""Team actions recorded by leaders; who recorded one lives in the audit log, not here."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base, UTCDateTime, utcnow


class TeamAction(Base):
    __tablename__ = "team_actions"
    __table_args__ = (Index("ix_team_actions_team_created", "team_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    cycle_id: Mapped[int | None] = mapped_column(
        ForeignKey("cycles.id", ondelete="SET NULL"), default=None
    )
    theme: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Follow-through: who carries it (a name as the team says it, not a person's record, so
    # an owner can be "the whole team"), by when, and where it stands.
    owner: Mapped[str | None] = mapped_column(String(120), default=None)
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(12), default="planned", server_default="planned")
