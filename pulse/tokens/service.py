"""Creating, checking and revoking integration tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.people.models import ROLES, Person, RoleGrant
from pulse.teams.models import Team
from pulse.tokens.models import TOKEN_KINDS, IntegrationToken

# The prefix tells a reader (and a secret scanner) which kind a leaked token is.
PREFIX = "pulse_"
MAX_NAME_LENGTH = 100
# Recording each use would write on every API call; once a minute says enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is shown once and never stored."""

    token: IntegrationToken
    secret: str


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    *,
    kind: str,
    name: str,
    role: str | None = None,
    team_name: str | None = None,
) -> NewToken:
    """A new token of `kind`; API tokens carry a role (admin, or leader of a team)."""
    if kind not in TOKEN_KINDS:
        raise ValueError(f"the kind must be one of {', '.join(TOKEN_KINDS)}")
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"give the token a name of 1 to {MAX_NAME_LENGTH} characters")
    if session.scalar(select(IntegrationToken.id).where(IntegrationToken.name == name)):
        raise ValueError(f"a token named {name!r} exists; revoke it first or pick another name")
    team_id: int | None = None
    if kind == "scim":
        if role or team_name:
            raise ValueError("a SCIM token provisions people; it takes no role or team")
    else:
        role = role or "admin"
        if role not in ROLES:
            raise ValueError(f"the role must be one of {', '.join(ROLES)}")
        if role == "leader":
            if not team_name:
                raise ValueError("a leader token needs --team: the team whose subtree it reads")
            team_id = session.scalar(select(Team.id).where(Team.name == team_name))
            if team_id is None:
                raise ValueError(f"no team named {team_name!r}")
        elif team_name:
            raise ValueError("an admin token reads every team; it takes no --team")
    secret = f"{PREFIX}{kind}_{secrets.token_urlsafe(32)}"
    token = IntegrationToken(
        kind=kind, name=name, token_hash=hash_token(secret), role=role, team_id=team_id
    )
    session.add(token)
    session.flush()
    record(
        session,
        actor=None,
        action="token.create",
        target=name,
        detail={"kind": kind, "role": role, "team": team_name},
    )
    return NewToken(token=token, secret=secret)


def revoke_token(session: Session, *, name: str) -> IntegrationToken:
    """Delete the named token so it stops working at once."""
    token = session.scalar(select(IntegrationToken).where(IntegrationToken.name == name))
    if token is None:
        raise ValueError(f"no token named {name!r}")
    session.delete(token)
    record(session, actor=None, action="token.revoke", target=name, detail={"kind": token.kind})
    return token


def list_tokens(session: Session) -> list[IntegrationToken]:
    """Every token, newest first (their secrets are not known)."""
    query = select(IntegrationToken).order_by(IntegrationToken.created_at.desc())
    return list(session.scalars(query))


def authenticate(
    session: Session, *, secret: str | None, kind: str, now: datetime | None = None
) -> IntegrationToken | None:
    """The token this bearer secret stands for, if it is a live token of `kind`."""
    if not secret or not secret.startswith(f"{PREFIX}{kind}_") or len(secret) > 200:
        return None
    digest = hash_token(secret)
    token = session.scalar(select(IntegrationToken).where(IntegrationToken.token_hash == digest))
    # The lookup is by hash, so timing reveals nothing of the secret; the compare is belt
    # and braces against a collation that folds case.
    if token is None or token.kind != kind or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token


def token_viewer(token: IntegrationToken) -> Person:
    """A stand-in person holding the token's role, never added to a session.

    The API asks pulse.teams.service.visible_team_ids what the token may see, exactly as the
    dashboard asks it for a signed-in person, so both doors share one rule.
    """
    viewer = Person(id=0, email=f"token:{token.name}", name=token.name, active=True)
    if token.role is not None:
        viewer.roles = [RoleGrant(role=token.role, team_id=token.team_id)]
    return viewer
