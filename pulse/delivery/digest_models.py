"""Results-ready digests (identity side): each leader's opt-out and one record per leader × cycle.

Both tables name a person and a cycle, never a response or an answer: a digest is built from
the same suppressed reports the dashboard reads, so nothing here leads to the answer side.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base, UTCDateTime, utcnow

# pending → sending → sent, or → retry (temporary failure, due at `claimed_at`) → … → failed;
# skipped when the leader opted out (or lost every team) between planning and sending.
DIGEST_STATES = ("pending", "sending", "sent", "retry", "failed", "skipped")


class DigestPreference(Base):
    """Whether a leader wants the results-ready email; no row means they do."""

    __tablename__ = "digest_preferences"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResultsDigest(Base):
    """One leader's digest of one closed cycle: claimed before sending, so it goes out once."""

    __tablename__ = "results_digests"
    __table_args__ = (UniqueConstraint("person_id", "cycle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # When the current claim was taken (or, in `retry`, when the next attempt is due).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
