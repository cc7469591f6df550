"""Accounts: creating people who sign in, hashing passwords, checking credentials."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.people.models import ROLES, Person, RoleGrant
from pulse.teams.models import Team

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("team-pulse-timing-equaliser")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about an account that cannot be carried out; the message says why."""


def normalise_email(email: str) -> str:
    """Validate an address and return it in the canonical lower-case form we store."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(f"{email.strip()!r} is not a valid email address: {exc}") from None
    return result.normalized.lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def find_by_email(session: Session, *, email: str) -> Person | None:
    return session.scalar(select(Person).where(func.lower(Person.email) == email.strip().lower()))


def authenticate(session: Session, *, email: str, password: str) -> Person | None:
    """The active person with these credentials, or None, whichever part was wrong."""
    person = find_by_email(session, email=email)
    stored = person.password_hash if person and person.active else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if person is None or stored is None or not person.active:
        return None
    if _hasher.check_needs_rehash(stored):
        person.password_hash = _hasher.hash(password)
    return person


def set_password(session: Session, *, person: Person, password: str) -> None:
    person.password_hash = hash_password(password)


def grant_role(session: Session, *, person: Person, role: str, team: Team | None = None) -> None:
    """Give `person` a role; leaders need the team they lead (it covers its subtree)."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "leader" and team is None:
        raise AccountError("a leader needs a team to lead")
    team_id = team.id if (team is not None and role == "leader") else None
    if any(g.role == role and g.team_id == team_id for g in person.roles):
        return
    person.roles.append(RoleGrant(role=role, team_id=team_id))


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    team_name: str | None = None,
    name: str | None = None,
) -> Person:
    """Create (or give a password and role to) a person who can sign in."""
    address = normalise_email(email)
    team = None
    if role == "leader":
        if not team_name:
            raise AccountError("a leader needs --team NAME")
        team = session.scalar(select(Team).where(Team.name == team_name))
        if team is None:
            raise AccountError(f"no team named {team_name!r}")
    person = find_by_email(session, email=address)
    if person is None:
        person = Person(email=address, name=name or address.split("@")[0])
        session.add(person)
    person.password_hash = hash_password(password)
    person.active = True
    grant_role(session, person=person, role=role, team=team)
    session.flush()
    return person
