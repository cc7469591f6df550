"""Mail backends: SMTP (one connection per batch) and the development outbox."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Protocol

from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.delivery.models import OutboxMessage


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None
    # Extra headers (name, value), e.g. List-Unsubscribe on the results digest.
    headers: tuple[tuple[str, str], ...] = ()


class TemporaryMailError(Exception):
    """The server could not take the message now; trying again later may work."""


class PermanentMailError(Exception):
    """The server refused the message for good (bad address, policy); do not retry."""


class Mailer(Protocol):
    def send(self, message: MailMessage) -> None: ...


# SMTP wants CRLF line ends; sendmail() sends bytes exactly as given.
_SMTP_LINES = compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable source, friendlier to spam filters than base64


def _header(value: str) -> str:
    # compat32 does not police line breaks in headers: fold them away so no text from an
    # organisation name or address can start a header of its own.
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8").encode()


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _UTF8_QP)
    return part


def build_email(message: MailMessage, *, sender: str) -> Message:
    """A multipart text + HTML message with the headers mail clients expect.

    Built with the compat32 MIME classes: about three times cheaper than EmailMessage's
    default policy, which matters when a cycle sends thousands of invitations.
    """
    name, address = parseaddr(sender)
    email: Message = (
        MIMEMultipart("alternative") if message.html else _text_part(message.text, "plain")
    )
    email["From"] = formataddr((name, address), charset="utf-8")
    email["To"] = _header(message.to)
    email["Subject"] = _header(message.subject)
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=address.rsplit("@", 1)[-1] or "localhost")
    email["Auto-Submitted"] = "auto-generated"
    for header, value in message.headers:
        email[header] = _header(value)
    if message.html:
        email.attach(_text_part(message.text, "plain"))
        email.attach(_text_part(message.html, "html"))
    return email


class OutboxMailer:
    """Keeps messages in the database for /dev/outbox; never used in production."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def send(self, message: MailMessage) -> None:
        self.session.add(
            OutboxMessage(
                to_addr=message.to,
                subject=message.subject,
                text_body=message.text,
                html_body=message.html,
            )
        )
        self.session.flush()


class SMTPMailer:
    """Sends over one open SMTP connection; classifies failures as temporary or permanent."""

    def __init__(self, settings: Settings, connection: smtplib.SMTP) -> None:
        self.settings = settings
        self.connection = connection

    def send(self, message: MailMessage) -> None:
        email = build_email(message, sender=self.settings.mail_from)
        sender = parseaddr(self.settings.mail_from)[1]
        # Non-ASCII addresses need the server's SMTPUTF8 extension.
        options = () if (sender + message.to).isascii() else ("SMTPUTF8",)
        try:
            refused = self.connection.sendmail(
                sender, [message.to], email.as_bytes(policy=_SMTP_LINES), mail_options=options
            )
        except smtplib.SMTPNotSupportedError:
            raise PermanentMailError(
                f"the mail server does not accept non-ASCII addresses such as {message.to}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text) from None
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise TemporaryMailError(f"connection lost: {exc}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _classify(code, text)


def _classify(code: int, text: bytes | str) -> Exception:
    reason = text.decode(errors="replace") if isinstance(text, bytes) else text
    if 400 <= code < 500:
        return TemporaryMailError(f"{code} {reason}")
    return PermanentMailError(f"{code} {reason}")


@contextmanager
def smtp_connection(settings: Settings, timeout: float = 30.0) -> Iterator[smtplib.SMTP]:
    """One authenticated SMTP connection (STARTTLS, implicit TLS, or plain for a local relay)."""
    try:
        if settings.smtp_tls == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
            if settings.smtp_tls == "starttls":
                connection.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            connection.login(settings.smtp_user, settings.smtp_password)
    except (OSError, smtplib.SMTPException) as exc:
        raise TemporaryMailError(
            f"cannot reach the mail server {settings.smtp_host}:{settings.smtp_port}: {exc}"
        ) from None
    try:
        yield connection
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()


@contextmanager
def open_mailer(settings: Settings, session: Session) -> Iterator[Mailer]:
    """The configured backend, ready for a batch of messages."""
    if settings.mail_backend == "outbox":
        yield OutboxMailer(session)
        return
    with smtp_connection(settings) as connection:
        yield SMTPMailer(settings, connection)


def send_one(settings: Settings, session: Session, message: MailMessage) -> None:
    """Send a single message (password resets, test emails) through the configured backend."""
    with open_mailer(settings, session) as mailer:
        mailer.send(message)


def send_all(mailer: Mailer, messages: Iterable[MailMessage]) -> None:
    for message in messages:
        mailer.send(message)
