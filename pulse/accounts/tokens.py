"""Single-use, expiring account tokens: the link carries the secret, the database its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.people.models import AccountToken, Person

PURPOSES = ("reset", "invite")
LIFETIMES = {"reset": timedelta(hours=1), "invite": timedelta(days=7)}


class TokenInvalid(ValueError):
    """The link is unknown, already used or expired (deliberately not told apart)."""


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(session: Session, *, person: Person, purpose: str) -> str:
    """A fresh link secret for `person`; earlier unused links of the same purpose stop working."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    now = utcnow()
    for earlier in session.scalars(
        select(AccountToken).where(
            AccountToken.person_id == person.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
    ):
        earlier.used_at = now
    raw = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            person_id=person.id,
            purpose=purpose,
            token_hash=token_hash(raw),
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    session.flush()
    return raw


def find_token(session: Session, *, raw: str, purpose: str) -> AccountToken:
    """The live token behind this link, or TokenInvalid."""
    token = session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == token_hash(raw), AccountToken.purpose == purpose
        )
    )
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        raise TokenInvalid("this link is not valid any more; ask for a new one")
    return token


def use_token(session: Session, *, raw: str, purpose: str) -> Person:
    """Spend the token (it works once) and return its person."""
    token = find_token(session, raw=raw, purpose=purpose)
    token.used_at = utcnow()
    person = session.get(Person, token.person_id)
    if person is None:
        raise TokenInvalid("this link is not valid any more; ask for a new one")
    session.flush()
    return person
