"""Integration tokens (identity side): what a machine may do, never the secret itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base, UTCDateTime, utcnow

TOKEN_KINDS = ("api", "scim")


class IntegrationToken(Base):
    """A bearer token of one kind; `role` and `team_id` scope an API token like a person.

    Only the SHA-256 of the token is kept: the secret has 256 random bits, so a plain hash
    is enough (no salt or slow hash needed), and a leaked table grants nothing. Revoking
    deletes the row; the audit log keeps the history.
    """

    __tablename__ = "integration_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
