"""Account links: hashed, single-use, expiring; resets never reveal whether an account exists."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.accounts.service import (
    accept_invitation,
    invite_leader,
    request_password_reset,
    reset_password,
)
from pulse.accounts.tokens import TokenInvalid, issue_token
from pulse.config import Settings
from pulse.delivery.mail import TemporaryMailError
from pulse.delivery.models import OutboxMessage
from pulse.people.models import AccountToken, Person
from pulse.people.service import authenticate
from pulse.teams.tree import create_team
from tests.conftest import make_settings
from tests.support.smtp import SMTPServer


def _link_token(body: str, kind: str) -> str:
    return body.split(f"/{kind}/", 1)[1].split()[0]


def test_reset_link_is_hashed_single_use_and_sets_the_password(
    session: Session, settings: Settings, make_user: object
) -> None:
    make_user("admin@example.org")  # type: ignore[operator]
    assert request_password_reset(session, settings=settings, email="ADMIN@example.org ")
    session.commit()
    message = session.scalars(select(OutboxMessage)).one()
    raw = _link_token(message.text_body, "reset")
    stored = session.scalars(select(AccountToken)).one()
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in stored.token_hash
    assert stored.expires_at - stored.created_at == timedelta(hours=1)
    reset_password(session, raw_token=raw, password="a brand new password")
    session.commit()
    assert authenticate(session, email="admin@example.org", password="a brand new password")
    with pytest.raises(TokenInvalid):
        reset_password(session, raw_token=raw, password="another new password")


def test_unknown_addresses_get_no_mail(session: Session, settings: Settings) -> None:
    session.add(Person(email="member@example.org", name="Member"))  # no account, no role
    session.commit()
    for address in ("nobody@example.org", "member@example.org", "not an address"):
        assert not request_password_reset(session, settings=settings, email=address)
    assert session.scalars(select(OutboxMessage)).all() == []
    assert session.scalars(select(AccountToken)).all() == []


def test_expired_and_superseded_links_fail(
    session: Session, settings: Settings, make_user: object
) -> None:
    person = make_user("admin@example.org")  # type: ignore[operator]
    first = issue_token(session, person=person, purpose="reset")
    second = issue_token(session, person=person, purpose="reset")
    with pytest.raises(TokenInvalid):
        reset_password(session, raw_token=first, password="a brand new password")
    token = session.scalars(select(AccountToken).where(AccountToken.used_at.is_(None))).one()
    token.expires_at = token.created_at - timedelta(seconds=1)
    session.flush()
    with pytest.raises(TokenInvalid):
        reset_password(session, raw_token=second, password="a brand new password")
    with pytest.raises(TokenInvalid):
        accept_invitation(session, raw_token=second, password="a brand new password")


def test_short_password_does_not_spend_the_link(
    session: Session, settings: Settings, make_user: object
) -> None:
    person = make_user("admin@example.org")  # type: ignore[operator]
    raw = issue_token(session, person=person, purpose="reset")
    with pytest.raises(ValueError, match="at least"):
        reset_password(session, raw_token=raw, password="short")
    reset_password(session, raw_token=raw, password="long enough password")


def test_invite_leader_over_real_smtp(
    session: Session, database_url: str, redis_server: object, smtp_server: SMTPServer
) -> None:
    smtp = make_settings(
        database_url,
        redis_server.url,  # type: ignore[attr-defined]
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
    )
    org = create_team(session, name="Acme", parent_id=None, kind="organisation")
    web = create_team(session, name="Web", parent_id=org.id)
    person = invite_leader(
        session, settings=smtp, email="Lea@Example.org", name="Lea", team=web, invited_by=None
    )
    session.commit()
    assert person.led_team_ids == [web.id] and person.password_hash is None
    (message,) = smtp_server.mailbox.messages
    assert message["To"] == "lea@example.org"
    raw = _link_token(message.get_content(), "invite")
    stored = session.scalars(select(AccountToken)).one()
    assert stored.expires_at - stored.created_at == timedelta(days=7)
    accept_invitation(session, raw_token=raw, password="leader password 1")
    session.commit()
    assert authenticate(session, email="lea@example.org", password="leader password 1")
    with pytest.raises(TokenInvalid):
        accept_invitation(session, raw_token=raw, password="leader password 2")


def test_invite_reports_a_mail_failure(
    session: Session, database_url: str, redis_server: object, smtp_server: SMTPServer
) -> None:
    smtp = make_settings(
        database_url,
        redis_server.url,  # type: ignore[attr-defined]
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
    )
    smtp_server.mailbox.refuse["lea@example.org"] = (451, "try later")
    org = create_team(session, name="Acme", parent_id=None, kind="organisation")
    with pytest.raises(TemporaryMailError, match="451"):
        invite_leader(
            session, settings=smtp, email="lea@example.org", name="Lea", team=org, invited_by=None
        )
