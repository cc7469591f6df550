"""Whether admins and leaders must sign in by single sign-on (an organisation setting)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.service import record
from pulse.organisation.models import OrgSetting
from pulse.people.models import Person

KEY = "require_sso"


def sso_required(session: Session) -> bool:
    """True once an admin required SSO: passwords then no longer sign in admins or leaders."""
    return session.scalar(select(OrgSetting.value).where(OrgSetting.key == KEY)) == "1"


def require_sso(session: Session, *, actor: Person | None, required: bool) -> None:
    """Turn the requirement on or off, with its audit event; the caller commits."""
    row = session.get(OrgSetting, KEY)
    value = "1" if required else "0"
    if row is None:
        session.add(OrgSetting(key=KEY, value=value))
    else:
        row.value = value
    record(session, actor=actor, action="settings.require_sso", detail={"required": required})


def password_refused(session: Session, *, person: Person) -> bool:
    """Whether this person may not sign in with a password (SSO is required of their role)."""
    return (person.is_admin or bool(person.led_team_ids)) and sso_required(session)
