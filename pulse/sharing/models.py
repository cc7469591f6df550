"""Shares of a team's report and the emails that carry them (identity side, no answer keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base, UTCDateTime, utcnow


class TeamShare(Base):
    """A leader's share of one team's results for one closed cycle, reachable by a link.

    Only the SHA-256 of the link's token is kept. The token itself is a keyed hash of
    `token_salt` under the app's secret key (pulse.sharing.tokens), so the worker can put it
    in the emails it sends later while the database alone never yields a working link.
    """

    __tablename__ = "team_shares"
    __table_args__ = (Index("ix_team_shares_team_cycle", "team_id", "cycle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_salt: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ShareDelivery(Base):
    """One person's email of one share: claimed before it is sent, so it goes out once."""

    __tablename__ = "share_deliveries"
    __table_args__ = (UniqueConstraint("share_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("team_shares.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # A permanent refusal by the mail server (bad address): not tried again.
    failed: Mapped[str | None] = mapped_column(String(300), default=None)
