"""A leader's choice about the results digest, and the signed one-click unsubscribe link.

The link carries the person's id signed with the app's secret (itsdangerous, salted for this
one purpose): it can do nothing but turn that person's digest off, so it needs no sign-in,
no expiry and no row of its own, and it stays valid in every digest ever sent.
"""

from __future__ import annotations

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.delivery.digest_models import DigestPreference

_SALT = "pulse.results-digest.unsubscribe"
# A real token is about 30 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 200


def unsubscribe_token(secret: str, *, person_id: int) -> str:
    """The token of a leader's one-click unsubscribe link."""
    return URLSafeSerializer(secret, salt=_SALT).dumps(person_id)


def person_for_token(secret: str, token: str) -> int | None:
    """The person an unsubscribe token was made for, or None when it is not one of ours."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        value = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadData:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        return None
    return value


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/digest/unsubscribe/{token}"


def wants_digest(session: Session, *, person_id: int) -> bool:
    """Whether the leader gets the results digest (yes unless they turned it off)."""
    opted_out = session.scalar(
        select(DigestPreference.opted_out).where(DigestPreference.person_id == person_id)
    )
    return not opted_out


def set_wants_digest(session: Session, *, person_id: int, wanted: bool) -> bool:
    """Record the leader's choice; returns whether it changed anything. The caller commits."""
    preference = session.get(DigestPreference, person_id)
    if preference is None:
        if wanted:
            return False
        session.add(DigestPreference(person_id=person_id, opted_out=True, updated_at=utcnow()))
        session.flush()
        return True
    if preference.opted_out == (not wanted):
        return False
    preference.opted_out = not wanted
    preference.updated_at = utcnow()
    session.flush()
    return True


def opted_out_ids(session: Session) -> set[int]:
    """Everyone who turned the digest off."""
    return set(
        session.scalars(
            select(DigestPreference.person_id).where(DigestPreference.opted_out.is_(True))
        )
    )
