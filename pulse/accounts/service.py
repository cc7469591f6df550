"""Password resets and leader invitations, each sent as a single-use emailed link."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from pulse.accounts.tokens import TokenInvalid, issue_token, use_token
from pulse.config import Settings
from pulse.delivery.mail import MailMessage, PermanentMailError, TemporaryMailError, send_one
from pulse.people.models import Person
from pulse.people.service import (
    AccountError,
    find_by_email,
    grant_role,
    hash_password,
    normalise_email,
)
from pulse.teams.models import Team

log = logging.getLogger(__name__)


def _may_sign_in(person: Person) -> bool:
    return person.active and (person.password_hash is not None or bool(person.roles))


def request_password_reset(session: Session, *, settings: Settings, email: str) -> bool:
    """Email a reset link if an account exists; the caller says the same thing either way.

    Returns whether a link was sent, for logs and tests only: never show it to the requester.
    """
    try:
        address = normalise_email(email)
    except AccountError:
        return False
    person = find_by_email(session, email=address)
    if person is None or not _may_sign_in(person):
        return False
    raw = issue_token(session, person=person, purpose="reset")
    link = f"{settings.base_url}/reset/{raw}"
    message = MailMessage(
        to=person.email,
        subject="Reset your Team Pulse password",
        text=(
            f"Hello {person.name},\n\n"
            "Someone (hopefully you) asked to reset your Team Pulse password.\n"
            f"Choose a new one here within the hour: {link}\n\n"
            "The link works once. If you did not ask, ignore this message: "
            "your password stays as it is.\n"
        ),
    )
    try:
        send_one(settings, session, message)
    except (TemporaryMailError, PermanentMailError) as exc:
        # The requester sees the same answer whatever happens; the operator sees why here.
        log.warning("password reset mail to %s failed: %s", person.email, exc)
        return False
    return True


def reset_password(session: Session, *, raw_token: str, password: str) -> Person:
    """Set a new password through a reset link; the link then stops working."""
    password_hash = hash_password(password)  # check the password before spending the link
    person = use_token(session, raw=raw_token, purpose="reset")
    if not person.active:
        raise TokenInvalid("this link is not valid any more; ask for a new one")
    person.password_hash = password_hash
    session.flush()
    return person


def invite_leader(
    session: Session,
    *,
    settings: Settings,
    email: str,
    name: str,
    team: Team,
    invited_by: Person | None,
) -> Person:
    """Create or update the person, make them leader of `team`, email a set-password link.

    Mail errors propagate so the caller can roll back and tell the admin.
    """
    if team.archived_at is not None:
        raise AccountError(f"{team.name!r} is archived")
    address = normalise_email(email)
    person = find_by_email(session, email=address)
    cleaned = " ".join(name.split()) or address.split("@")[0]
    if person is None:
        person = Person(email=address, name=cleaned[:200])
        session.add(person)
    elif name.strip():
        person.name = cleaned[:200]
    person.active = True
    session.flush()
    grant_role(session, person=person, role="leader", team=team)
    raw = issue_token(session, person=person, purpose="invite")
    link = f"{settings.base_url}/invite/{raw}"
    inviter = f" {invited_by.name}" if invited_by else ""
    message = MailMessage(
        to=person.email,
        subject=f"You are invited to lead {team.name} on Team Pulse",
        text=(
            f"Hello {person.name},\n\n"
            f"{inviter.strip() or 'An administrator'} invited you to see the pulse of "
            f"{team.name} on Team Pulse.\n"
            f"Set your password here within 7 days: {link}\n\n"
            "The link works once. Results only ever show groups large enough to keep "
            "answers anonymous.\n"
        ),
    )
    send_one(settings, session, message)
    session.flush()
    return person


def accept_invitation(session: Session, *, raw_token: str, password: str) -> Person:
    """Set the invited leader's password; the link then stops working."""
    password_hash = hash_password(password)
    person = use_token(session, raw=raw_token, purpose="invite")
    person.password_hash = password_hash
    person.active = True
    session.flush()
    return person
