"""What one leader's results digest says, read only through the dashboard's reporting door.

Every figure comes from pulse.reporting.queries (theme_rows, participation_rows) for the teams
the leader may see, so the email hides exactly what the dashboard hides: a hidden row carries
no figure, only the same words the dashboard shows for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from pulse.delivery.mail import MailMessage
from pulse.instrument import THEME_LABELS, THEMES
from pulse.people.models import Person
from pulse.reporting.context import report_context
from pulse.reporting.queries import (
    ParticipationRow,
    ThemeRow,
    participation_rows,
    theme_rows,
    was_surveyed,
)
from pulse.teams.service import visible_team_ids

TEMPLATES = Path(__file__).parent / "templates"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# What the dashboard's participation table says where the rules hide a rate.
PARTICIPATION_HIDDEN = "not shown, to keep small groups anonymous"
CHANGE_WORDS = {"up": "significant rise", "down": "significant drop"}


@dataclass(frozen=True)
class ScoreLine:
    """One theme of one team: the score with its 95 % band, or why it is not shown."""

    theme: str
    label: str
    score: str | None
    change: str | None
    hidden_reason: str | None


@dataclass(frozen=True)
class TeamSection:
    team_id: int
    name: str
    took_part: str
    scores: tuple[ScoreLine, ...]

    @property
    def scores_hidden(self) -> str | None:
        """The one reason when every score is hidden for it (said once, not per theme)."""
        reasons = {line.hidden_reason for line in self.scores}
        if len(reasons) == 1 and None not in reasons:
            return reasons.pop()
        return None


@dataclass(frozen=True)
class DigestContent:
    """Everything one leader's email shows about one closed cycle."""

    person_id: int
    to: str
    name: str
    organisation: str
    closed_on: str
    dashboard_url: str
    unsubscribe_url: str
    teams: tuple[TeamSection, ...]

    @property
    def flagged(self) -> int:
        return sum(1 for team in self.teams for line in team.scores if line.change)


def score_text(row: ThemeRow) -> str | None:
    """A score as the dashboard writes it, "3.8 (3.5–4.1)", or None where it is hidden."""
    if row.suppressed or row.mean is None or row.ci_low is None or row.ci_high is None:
        return None
    return f"{row.mean:.1f} ({row.ci_low:.1f}–{row.ci_high:.1f})"


def took_part_text(row: ParticipationRow | None) -> str:
    """Participation of a closed cycle as the dashboard shows it: a rate, or why not."""
    if row is None:
        return PARTICIPATION_HIDDEN
    if row.rate is not None and row.state is None:
        return f"{row.rate}%"
    return row.reason or PARTICIPATION_HIDDEN


def _score_line(row: ThemeRow) -> ScoreLine:
    score = score_text(row)
    return ScoreLine(
        theme=row.theme,
        label=THEME_LABELS.get(row.theme, row.theme),
        score=score,
        change=CHANGE_WORDS.get(row.change or "") if score is not None else None,
        hidden_reason=None if score is not None else (row.reason or "not shown"),
    )


def _ordered(team_ids: Collection[int], names: dict[int, str], led: list[int]) -> list[int]:
    """The leader's own teams first, then the rest of their scope by name."""
    own = [t for t in led if t in team_ids]
    rest = sorted((t for t in team_ids if t not in own), key=lambda t: names[t].lower())
    return own + rest


def team_sections(
    session: Session, *, team_ids: Collection[int], cycle_id: int, threshold: int, led: list[int]
) -> tuple[TeamSection, ...]:
    """Participation and theme scores of every group of `team_ids` surveyed in the cycle."""
    context = report_context(session, threshold, None)
    themes = theme_rows(
        session, team_ids=team_ids, threshold=threshold, cycle_ids=[cycle_id], context=context
    )
    taking_part = participation_rows(
        session, team_ids=team_ids, threshold=threshold, cycle_ids=[cycle_id], context=context
    )
    names = {row.team_id: row.team for row in themes} | {r.team_id: r.team for r in taking_part}
    by_team: dict[int, dict[str, ThemeRow]] = {}
    for row in themes:
        if row.cycle_id == cycle_id:
            by_team.setdefault(row.team_id, {})[row.theme] = row
    rates = {row.team_id: row for row in taking_part if row.cycle_id == cycle_id}
    sections = []
    for team_id in _ordered(set(by_team) | set(rates), names, led):
        rows = by_team.get(team_id, {})
        sections.append(
            TeamSection(
                team_id=team_id,
                name=names[team_id],
                took_part=took_part_text(rates.get(team_id)),
                scores=tuple(_score_line(rows[theme]) for theme in THEMES if theme in rows),
            )
        )
    return tuple(sections)


def dashboard_url(base_url: str, *, cycle_id: int, team_id: int | None) -> str:
    """The dashboard opened on the cycle (and the leader's own team), as an absolute URL."""
    query = {"tab": "overview", "cycle": str(cycle_id)}
    if team_id is not None:
        query["team"] = str(team_id)
    return f"{base_url.rstrip('/')}/dashboard/?{urlencode(query)}"


def digest_for(
    session: Session,
    *,
    person: Person,
    cycle_id: int,
    closes_at: datetime,
    threshold: int,
    organisation: str,
    base_url: str,
    unsubscribe_url: str,
) -> DigestContent | None:
    """The leader's digest of a closed cycle, or None when no team of theirs was surveyed."""
    scope = visible_team_ids(session, person=person)
    if not scope or not was_surveyed(session, team_ids=scope, cycle_id=cycle_id):
        return None
    led = person.led_team_ids
    teams = team_sections(session, team_ids=scope, cycle_id=cycle_id, threshold=threshold, led=led)
    if not teams:
        return None
    return DigestContent(
        person_id=person.id,
        to=person.email,
        name=person.name.split(" ")[0] if person.name else "",
        organisation=organisation,
        closed_on=f"{closes_at:%A} {closes_at.day} {closes_at:%B %Y}",
        dashboard_url=dashboard_url(
            base_url, cycle_id=cycle_id, team_id=teams[0].team_id if led else None
        ),
        unsubscribe_url=unsubscribe_url,
        teams=teams,
    )


def render_digest(content: DigestContent) -> MailMessage:
    """The digest as a plain-text and an HTML part, with one-click unsubscribe headers."""
    context = {"digest": content}
    return MailMessage(
        to=content.to,
        subject=f"{content.organisation} team pulse: results are ready",
        text=_environment.get_template("digest.txt").render(context),
        html=_environment.get_template("digest.html").render(context),
        headers=(
            ("List-Unsubscribe", f"<{content.unsubscribe_url}>"),
            # RFC 8058: mail clients unsubscribe with one POST, no page to visit.
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )
