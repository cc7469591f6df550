"""Conversation guide: a short prompt to help a leader open the talk when a theme needs it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from pulse.instrument import THEME_HIGHER_IS_BETTER, THEME_LABELS

# On a 1–5 agreement scale, a mean under 3.5 means the team leans towards neutral or worse;
# for the AI concern index the mirror image (3.5 or more) means concern outweighs comfort.
LOW_SCORE = 3.5
HIGH_CONCERN = 3.5


@dataclass(frozen=True)
class Prompt:
    """One conversation prompt: why it is shown and what the leader might say."""

    theme: str
    direction: str
    headline: str
    text: str


PROMPTS: dict[tuple[str, str], tuple[str, str]] = {
    ("safety", "low"): (
        "People may not feel safe to speak up",
        "Start by going first: share a recent moment when you were unsure or got something "
        'wrong. Then ask, "What makes it hard to raise a concern here, and what would make it '
        'easier?" Listen without defending, thank people for saying it, and agree one small '
        "change together.",
    ),
    ("safety", "drop"): (
        "Safety dropped noticeably since the last pulse",
        'Name what you see without looking for who said what: "The pulse suggests speaking up '
        'has got harder lately. I would like to understand what changed for you." Leave room '
        "for silence, and offer a way to reply later or one to one for those who prefer it.",
    ),
    ("learning", "low"): (
        "Failures may be handled by looking for a culprit",
        "Pick one recent setback and walk through it together as a system question: what made "
        "the mistake easy to make, and what would make it hard next time? Ask the team what "
        "helps them share a slip early, and thank the first person who does.",
    ),
    ("learning", "drop"): (
        "How the team learns from failure got noticeably worse",
        'Open with curiosity rather than concern: "Something seems to have changed in how we '
        'deal with things going wrong. What have you noticed?" Agree together how the next '
        "review will run, and keep it about causes, never about people.",
    ),
    ("ai", "high"): (
        "Concern about AI is high",
        'Acknowledge that the worry is reasonable before explaining anything: "Many of you '
        'are uneasy about what AI means for your work. What worries you most?" Share what you '
        "know and what you don't, and ask what training or say in the rollout would help.",
    ),
    ("ai", "rising"): (
        "Concern about AI rose noticeably",
        'Ask what changed: "Since the last pulse, concern about AI has gone up. Was it '
        'something we did, or something people heard?" Be open about plans for roles, and '
        "agree one concrete step such as a hands-on session or a clear rule for checking output.",
    ),
}


class ScoredTheme(Protocol):
    """What the guide needs of a reported theme score (a reporting ThemeRow fits)."""

    @property
    def theme(self) -> str: ...
    @property
    def cycle_opened(self) -> date: ...
    @property
    def mean(self) -> float | None: ...
    @property
    def change(self) -> str | None: ...
    @property
    def suppressed(self) -> bool: ...


def directions_for(row: ScoredTheme) -> list[str]:
    """Why a theme score calls for a conversation: low/high level and a significant change."""
    if row.suppressed or row.mean is None or row.theme not in THEME_HIGHER_IS_BETTER:
        return []
    found = []
    if THEME_HIGHER_IS_BETTER[row.theme]:
        if row.mean < LOW_SCORE:
            found.append("low")
        if row.change == "down":
            found.append("drop")
    else:
        if row.mean >= HIGH_CONCERN:
            found.append("high")
        if row.change == "up":
            found.append("rising")
    return found


def prompts_for(rows: Iterable[ScoredTheme]) -> list[Prompt]:
    """The prompts for a team's latest visible score per theme, in theme order."""
    latest: dict[str, ScoredTheme] = {}
    for row in rows:
        if row.suppressed or row.mean is None:
            continue
        current = latest.get(row.theme)
        if current is None or row.cycle_opened > current.cycle_opened:
            latest[row.theme] = row
    prompts = []
    for theme in THEME_LABELS:
        if theme not in latest:
            continue
        for direction in directions_for(latest[theme]):
            headline, text = PROMPTS[(theme, direction)]
            prompts.append(Prompt(theme=theme, direction=direction, headline=headline, text=text))
    return prompts
