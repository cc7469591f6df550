"""Messages survive a real SMTP hop intact: multipart, non-ASCII headers and bodies, long lines."""

from __future__ import annotations

import smtplib

from pulse.config import Settings
from pulse.delivery.mail import MailMessage, SMTPMailer, build_email
from tests.support.smtp import SMTPServer


def test_non_ascii_and_long_html_arrive_as_sent(smtp_server: SMTPServer) -> None:
    settings = Settings.from_env(
        {
            "PULSE_MAIL_BACKEND": "smtp",
            "PULSE_SMTP_PORT": str(smtp_server.port),
            "PULSE_SMTP_TLS": "false",
            "PULSE_MAIL_FROM": "Équipe Pulse <pulse@example.org>",
        }
    )
    html = "<p>" + "é" * 2000 + "</p>"  # one long line: must be wrapped, not refused
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as connection:
        SMTPMailer(settings, connection).send(
            MailMessage(to="zoe@example.org", subject="Café pulse", text="Héllo", html=html)
        )
    (received,) = smtp_server.mailbox.messages
    assert received["Subject"] == "Café pulse"
    assert received["From"] == "Équipe Pulse <pulse@example.org>"
    text, rich = (part.get_content() for part in received.iter_parts())
    assert text.strip() == "Héllo"
    assert rich.strip() == html
    assert smtp_server.mailbox.envelopes == [("pulse@example.org", ["zoe@example.org"])]


def test_a_non_ascii_address_goes_out_with_smtputf8(smtp_server: SMTPServer) -> None:
    settings = Settings.from_env(
        {
            "PULSE_MAIL_BACKEND": "smtp",
            "PULSE_SMTP_PORT": str(smtp_server.port),
            "PULSE_SMTP_TLS": "false",
        }
    )
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as connection:
        SMTPMailer(settings, connection).send(
            MailMessage(to="zoë@example.org", subject="Pulse", text="Hello")
        )
    assert smtp_server.mailbox.recipients() == ["zoë@example.org"]


def test_line_breaks_cannot_inject_headers() -> None:
    built = build_email(
        MailMessage(to="a@example.org", subject="Pulse\r\nBcc: victim@example.org", text="x"),
        sender="Team Pulse <pulse@example.org>",
    )
    assert built["Subject"] == "Pulse Bcc: victim@example.org"
    assert built["Bcc"] is None
