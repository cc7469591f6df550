"""Sharing a team's closed-cycle report: create, find by link, stop, and who gets the email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.context import ReportContext
from pulse.sharing.models import ShareDelivery, TeamShare
from pulse.sharing.tokens import looks_like_token, new_salt, share_token, token_hash
from pulse.surveys.models import Cycle

# Long enough to take into the next team meeting or two, short enough not to linger.
SHARE_LIFETIME = timedelta(days=90)


class ShareRefused(ValueError):
    """The share cannot be made (the cycle is still open, or the team was not surveyed)."""


@dataclass(frozen=True)
class ShareStatus:
    """What the leader's page says about a team × cycle's share."""

    share: TeamShare | None
    recipients: int
    sent: int


def active_share(
    session: Session, *, team_id: int, cycle_id: int, now: datetime | None = None
) -> TeamShare | None:
    """The live share of this team's report for this cycle, if any."""
    now = now or utcnow()
    return session.scalar(
        select(TeamShare)
        .where(
            TeamShare.team_id == team_id,
            TeamShare.cycle_id == cycle_id,
            TeamShare.revoked_at.is_(None),
            TeamShare.expires_at > now,
        )
        .order_by(TeamShare.id.desc())
        .limit(1)
    )


def share_status(session: Session, *, team_id: int, cycle_id: int) -> ShareStatus:
    """The live share (or None) and how many of its emails have gone out."""
    share = active_share(session, team_id=team_id, cycle_id=cycle_id)
    if share is None:
        return ShareStatus(share=None, recipients=0, sent=0)
    total, sent = session.execute(
        select(func.count(), func.count(ShareDelivery.sent_at)).where(
            ShareDelivery.share_id == share.id
        )
    ).one()
    return ShareStatus(share=share, recipients=total, sent=sent)


def recipient_ids(session: Session, *, team_id: int, cycle_id: int, threshold: int) -> list[int]:
    """Active people invited to the cycle in the team or below it, on the cycle's own tree."""
    tree = ReportContext.load(session, threshold=threshold).tree(session, cycle_id)
    teams = sorted(tree.subtree(team_id))
    query = (
        select(Invitation.person_id)
        .join(Person, Person.id == Invitation.person_id)
        .where(
            Invitation.cycle_id == cycle_id,
            Invitation.team_id.in_(teams),
            Person.active.is_(True),
        )
        .order_by(Invitation.person_id)
    )
    return list(session.scalars(query))


def share_report(
    session: Session,
    *,
    team_id: int,
    cycle_id: int,
    actor: Person,
    secret: str,
    threshold: int,
    now: datetime | None = None,
) -> tuple[TeamShare, bool]:
    """Share the team's report of a closed cycle; returns (share, created).

    Sharing again while a share is live returns that share and adds nobody: each person of a
    share is emailed once (one ShareDelivery per share × person, unique).
    """
    now = now or utcnow()
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or cycle.status != "closed":
        raise ShareRefused("results can be shared once the cycle has closed")
    existing = active_share(session, team_id=team_id, cycle_id=cycle_id, now=now)
    if existing is not None:
        return existing, False
    people = recipient_ids(session, team_id=team_id, cycle_id=cycle_id, threshold=threshold)
    if not people:
        raise ShareRefused("nobody in this team was invited to this cycle")
    salt = new_salt()
    share = TeamShare(
        team_id=team_id,
        cycle_id=cycle_id,
        token_salt=salt,
        token_hash=token_hash(share_token(secret, salt)),
        created_by=actor.id,
        created_at=now,
        expires_at=now + SHARE_LIFETIME,
    )
    session.add(share)
    session.flush()
    session.add_all(ShareDelivery(share_id=share.id, person_id=p) for p in people)
    record(
        session,
        actor=actor,
        action="share.create",
        target=f"team:{team_id}",
        detail={"cycle_id": cycle_id, "share_id": share.id, "recipients": len(people)},
    )
    session.flush()
    return share, True


def revoke_share(
    session: Session, *, team_id: int, cycle_id: int, actor: Person, now: datetime | None = None
) -> TeamShare | None:
    """Stop the live share of this team × cycle at once; None when there was none."""
    now = now or utcnow()
    share = active_share(session, team_id=team_id, cycle_id=cycle_id, now=now)
    if share is None:
        return None
    share.revoked_at = now
    record(
        session,
        actor=actor,
        action="share.revoke",
        target=f"team:{team_id}",
        detail={"cycle_id": cycle_id, "share_id": share.id},
    )
    session.flush()
    return share


def share_for_token(
    session: Session, *, token: str, now: datetime | None = None
) -> TeamShare | None:
    """The live share this link opens; None for a malformed, unknown, revoked or expired one."""
    if not looks_like_token(token):
        return None
    now = now or utcnow()
    share = session.scalar(select(TeamShare).where(TeamShare.token_hash == token_hash(token)))
    if share is None or share.revoked_at is not None or share.expires_at <= now:
        return None
    return share


def share_link(base_url: str, *, secret: str, share: TeamShare) -> str:
    """The link the team is emailed."""
    return f"{base_url.rstrip('/')}/shared/{share_token(secret, share.token_salt)}"
