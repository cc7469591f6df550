"""Reading results-digest emails back: their parts, team sections and unsubscribe link."""

from __future__ import annotations

import re
from email.message import EmailMessage

from sqlalchemy.orm import Session

from pulse.people.models import Person, RoleGrant

FIGURE = re.compile(r"\d\.\d|\d+%")
UNSUBSCRIBE = re.compile(r"^<(https?://[^>]+/digest/unsubscribe/([^>/]+))>$")


def make_leader(session: Session, email: str, *team_ids: int) -> Person:
    """An active leader of the given teams (and their subtrees)."""
    person = Person(email=email, name=f"{email.split('@')[0].title()} Lead")
    session.add(person)
    session.flush()
    for team_id in team_ids:
        session.add(RoleGrant(person_id=person.id, role="leader", team_id=team_id))
    session.flush()
    return person


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def sections(text: str) -> dict[str, list[str]]:
    """Each team's lines in the plain-text part: its name, then indented lines."""
    found: dict[str, list[str]] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line and not line.startswith(" ") and lines[index + 1].startswith("  Took part:"):
            block = []
            for following in lines[index + 1 :]:
                if not following.startswith("  "):
                    break
                block.append(following.strip())
            found[line] = block
    return found


def unsubscribe_link(message: EmailMessage) -> tuple[str, str]:
    """The List-Unsubscribe URL of a message and the token in it."""
    match = UNSUBSCRIBE.match(str(message["List-Unsubscribe"]).strip())
    assert match, message["List-Unsubscribe"]
    return match.group(1), match.group(2)
