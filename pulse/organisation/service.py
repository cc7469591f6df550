"""Reading and changing organisation settings with their defaults and validation."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.organisation.models import OrgSetting

MIN_THRESHOLD = 3
MAX_THRESHOLD = 10


@dataclass(frozen=True)
class OrgSettings:
    name: str
    timezone: str
    threshold: int


def get_settings(session: Session, *, default_threshold: int = 5) -> OrgSettings:
    """The organisation's settings, falling back to defaults for anything never set."""
    rows = {row.key: row.value for row in session.scalars(select(OrgSetting))}
    return OrgSettings(
        name=rows.get("name", "Our organisation"),
        timezone=rows.get("timezone", "UTC"),
        threshold=int(rows.get("threshold", default_threshold)),
    )


def threshold(session: Session, *, default: int = 5) -> int:
    """The confidentiality threshold k in force."""
    # Read on every report: the one value, not every setting.
    stored = session.scalar(select(OrgSetting.value).where(OrgSetting.key == "threshold"))
    return default if stored is None else int(stored)


def update_settings(
    session: Session,
    *,
    name: str | None = None,
    timezone: str | None = None,
    threshold: int | None = None,
) -> None:
    """Validate and store changed settings; raise ValueError with a readable reason."""
    changes: dict[str, str] = {}
    if name is not None:
        if not name.strip():
            raise ValueError("the organisation needs a name")
        changes["name"] = name.strip()[:200]
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        changes["timezone"] = timezone
    if threshold is not None:
        if not MIN_THRESHOLD <= threshold <= MAX_THRESHOLD:
            raise ValueError(f"the threshold must be between {MIN_THRESHOLD} and {MAX_THRESHOLD}")
        changes["threshold"] = str(threshold)
    for key, value in changes.items():
        row = session.get(OrgSetting, key)
        if row is None:
            session.add(OrgSetting(key=key, value=value))
        else:
            row.value = value
