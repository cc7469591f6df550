"""The email that brings a shared team report to each member: text + HTML, rendered by Jinja."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pulse.delivery.emails import TEMPLATES
from pulse.delivery.mail import MailMessage

# The invitation emails' templates folder and settings: one look for every email sent.
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class ShareEmail:
    """What every email of one share says; only the greeting differs."""

    organisation: str
    team: str
    leader: str
    opened: date
    expires: datetime
    link: str


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def render_share_message(email: ShareEmail, *, to: str, name: str) -> MailMessage:
    """One member's email with the team's link."""
    context = {
        "name": name.split(" ")[0] if name else "",
        "organisation": email.organisation,
        "team": email.team,
        "leader": email.leader,
        "opened": _day(email.opened),
        "expires": _day(email.expires.date()),
        "link": email.link,
    }
    return MailMessage(
        to=to,
        subject=f"{email.team}: your team's pulse results are shared with you",
        text=_environment.get_template("share.txt").render(context),
        html=_environment.get_template("share.html").render(context),
    )
