"""Invitation and reminder emails: plain text + HTML with inline styles, rendered by Jinja."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from pulse.delivery.mail import MailMessage
from pulse.instrument import SCALE_LABELS, SCALE_RANGES
from pulse.organisation.service import get_settings
from pulse.surveys.models import Cycle, Item, Schedule

TEMPLATES = Path(__file__).parent / "templates"

# Plain Jinja (no Flask) so the worker, the CLI and the admin preview render the same email.
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Choice:
    value: int
    label: str


@dataclass(frozen=True)
class CycleEmail:
    """What every email of one cycle shares; only the name and the link differ."""

    organisation: str
    base_url: str
    closes_label: str
    item_count: int
    anchor_item_id: int
    anchor_wording: str
    choices: tuple[Choice, ...]


def choices_for(item: Item) -> tuple[Choice, ...]:
    """The labelled values of an item's scale, lowest first."""
    return choices_for_scale(item.scale)


@cache
def choices_for_scale(scale: str) -> tuple[Choice, ...]:
    """The labelled values of a scale, lowest first (the scales are fixed, so built once)."""
    low, high = SCALE_RANGES[scale]
    return tuple(Choice(v, SCALE_LABELS.get(v, str(v))) for v in range(low, high + 1))


def first_anchor(items: list[Item]) -> Item:
    """The first anchor item in display order (the email's one-click question)."""
    for item in items:
        if item.is_anchor:
            return item
    if not items:
        raise ValueError("a cycle without items cannot be emailed")
    return items[0]


def closes_label(closes_at: datetime, timezone: str) -> str:
    local = closes_at.astimezone(ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B at %H:%M} ({timezone})"


def cycle_email(
    session: Session, *, items: list[Item], closes_at: datetime, timezone: str, base_url: str
) -> CycleEmail:
    """The shared part of a cycle's emails (also used by the admin preview before saving)."""
    anchor = first_anchor(items)
    return CycleEmail(
        organisation=get_settings(session).name,
        base_url=base_url.rstrip("/"),
        closes_label=closes_label(closes_at, timezone),
        item_count=len(items),
        anchor_item_id=anchor.id,
        anchor_wording=anchor.wording,
        choices=choices_for(anchor),
    )


def email_for_cycle(session: Session, *, cycle: Cycle, base_url: str) -> CycleEmail:
    """The shared email part for an opened cycle."""
    schedule = session.get(Schedule, cycle.schedule_id) if cycle.schedule_id else None
    timezone = schedule.timezone if schedule else "UTC"
    items = [ci.item for ci in cycle.items]
    return cycle_email(
        session, items=items, closes_at=cycle.closes_at, timezone=timezone, base_url=base_url
    )


def answer_url(base_url: str, token: str) -> str:
    return f"{base_url}/s/{token}"


def render_message(
    shared: CycleEmail, *, to: str, name: str, token: str, reminder: bool = False
) -> MailMessage:
    """One person's invitation (or reminder) with their own link."""
    link = answer_url(shared.base_url, token)
    context = {
        "email": shared,
        "name": name.split(" ")[0] if name else "",
        "link": link,
        "buttons": [
            (choice, f"{link}?a={shared.anchor_item_id}:{choice.value}")
            for choice in shared.choices
        ],
        "reminder": reminder,
        "minutes": max(1, round(shared.item_count * 10 / 60)),
    }
    subject = (
        "Reminder: your team pulse closes soon"
        if reminder
        else f"{shared.organisation} team pulse: how is your team doing?"
    )
    return MailMessage(
        to=to,
        subject=subject,
        text=_environment.get_template("invitation.txt").render(context),
        html=_environment.get_template("invitation.html").render(context),
    )
