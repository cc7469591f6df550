"""Sensitive comments: admin-edited word lists per category flag comments for admins.

Flagged comments are read in a restricted admin view, still anonymous: they are the
organisation's comments as `comment_rows` gives them for the whole tree (the hiding pattern
and the comments threshold applied, names masked), shuffled and without their team, so the
view shows an admin nothing the organisation-wide comments did not already show, only
which of them need attention.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.comments.models import SensitiveWord
from pulse.people.models import Person
from pulse.reporting.context import report_context
from pulse.reporting.detail import comment_rows

CATEGORIES: Final = ("harassment", "safety", "discrimination")
# A starting list an admin may load and then edit: plain words, matched whole, any case.
DEFAULT_WORDS: Final = {
    "harassment": (
        "harass",
        "harassed",
        "harassment",
        "bullied",
        "bullying",
        "intimidated",
        "threatened",
        "inappropriate touching",
        "stalking",
    ),
    "safety": (
        "unsafe",
        "injury",
        "injured",
        "accident",
        "fire exit",
        "self-harm",
        "suicidal",
        "violence",
        "assault",
    ),
    "discrimination": (
        "discriminated",
        "discrimination",
        "racist",
        "racism",
        "sexist",
        "sexism",
        "homophobic",
        "ageist",
        "because of my religion",
    ),
}
PHRASE_MAX: Final = 100


@dataclass(frozen=True)
class FlaggedComment:
    """A comment that matched a list: the categories it matched and its masked text."""

    categories: tuple[str, ...]
    text: str


def word_lists(session: Session) -> dict[str, list[str]]:
    """The lists in force, per category, as admins edited them."""
    lists: dict[str, list[str]] = {category: [] for category in CATEGORIES}
    for category, phrase in session.execute(
        select(SensitiveWord.category, SensitiveWord.phrase).order_by(SensitiveWord.phrase)
    ):
        lists.setdefault(category, []).append(phrase)
    return lists


def _admin(actor: Person) -> None:
    if not (actor.active and actor.is_admin):
        raise PermissionError("only admins manage and read sensitive comments")


def add_phrase(session: Session, *, actor: Person, category: str, phrase: str) -> bool:
    """Add a phrase to a category's list; False when it was there already. Not committed."""
    _admin(actor)
    cleaned = " ".join(phrase.split()).casefold()
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    if not cleaned or len(cleaned) > PHRASE_MAX:
        raise ValueError(f"a phrase has 1 to {PHRASE_MAX} characters")
    exists = session.scalar(
        select(SensitiveWord.id).where(
            SensitiveWord.category == category, SensitiveWord.phrase == cleaned
        )
    )
    if exists is not None:
        return False
    session.add(SensitiveWord(category=category, phrase=cleaned))
    session.flush()
    return True


def remove_phrase(session: Session, *, actor: Person, category: str, phrase: str) -> bool:
    """Remove a phrase from a category's list; False when it was not there. Not committed."""
    _admin(actor)
    found = session.scalar(
        select(SensitiveWord).where(
            SensitiveWord.category == category,
            SensitiveWord.phrase == " ".join(phrase.split()).casefold(),
        )
    )
    if found is None:
        return False
    session.delete(found)
    session.flush()
    return True


def load_defaults(session: Session, *, actor: Person) -> int:
    """Add the starting lists (DEFAULT_WORDS); how many phrases were new. Not committed."""
    return sum(
        add_phrase(session, actor=actor, category=category, phrase=phrase)
        for category, phrases in DEFAULT_WORDS.items()
        for phrase in phrases
    )


def matching_categories(text: str, lists: dict[str, list[str]]) -> tuple[str, ...]:
    """The categories whose list has a phrase in the text (whole words, any case)."""
    matched = []
    for category, phrases in lists.items():
        for phrase in phrases:
            pattern = r"(?<!\w)" + re.escape(phrase).replace(r"\ ", r"\s+") + r"(?!\w)"
            if re.search(pattern, text, re.IGNORECASE):
                matched.append(category)
                break
    return tuple(matched)


def flagged_comments(
    session: Session, *, actor: Person, cycle_id: int, threshold: int, rng: random.Random
) -> list[FlaggedComment]:
    """The organisation's shown comments of a cycle that match a list, for admins only."""
    _admin(actor)
    context = report_context(session, threshold, None)
    tree = context.tree(session, cycle_id)
    lists = word_lists(session)
    flagged = []
    roots = sorted(team for team, parent in tree.parents.items() if parent is None)
    for root in roots:
        for row in comment_rows(
            session,
            team_id=root,
            cycle_id=cycle_id,
            threshold=threshold,
            rng=rng,
            context=context,
        ):
            categories = matching_categories(row.body, lists)
            if categories:
                flagged.append(FlaggedComment(categories, row.body))
    rng.shuffle(flagged)
    return flagged
