"""Masking names, email addresses and phone numbers in a comment before any leader reads it.

Only the answer side keeps the original text (the writer sees it when revising); every read
for a leader (dashboard, download, `pulse report comments`) goes through `mask` on the way
out, in pulse.reporting.detail.comment_rows, so no surface can forget it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.people.models import Person

NAME: Final = "[name]"
EMAIL: Final = "[email]"
PHONE: Final = "[phone]"

# Emails before phones before names: an address holds digits and often a name, and once it is
# "[email]" neither later pattern can half-mask it into something still readable.
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A run of digits with the separators people type (+44 20 7946 0018, 555-0100, (01632) 960 001);
# it counts as a phone only with 7 or more digits, so "3 of 5 sprints" or a year stays.
_PHONE = re.compile(r"(?<![\w])\+?\(?\d[\d\s().\-/]{4,}\d(?![\w])")
_PHONE_DIGITS: Final = 7
# Name parts shorter than this are skipped ("Li" stays a name, an initial does not).
_SHORTEST_NAME: Final = 2


# A word as people write names: letters, with inner apostrophes or hyphens (O'Neil, Smith-Jones).
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# Two or more masked names in a row ("Sam Jones") read as one.
_NAME_RUN = re.compile(r"\[name\](?:\s+\[name\])+")
_POSSESSIVE = ("'s", "’s")


@dataclass(frozen=True)
class Directory:
    """Every part of every name in the directory (first, middle, last), case-folded.

    A set, not one big alternation pattern: with thousands of people a regex of every name
    took about 60 ms a comment (measured with 5,000 names); a word-by-word lookup takes
    microseconds, whatever the directory's size.
    """

    parts: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str]) -> Directory:
        parts: set[str] = set()
        for name in names:
            for word in _WORD.findall(name):
                if len(word) >= _SHORTEST_NAME:
                    parts.add(word.casefold())
                    # "Smith-Jones" is also written "Smith" or "Jones".
                    parts.update(
                        piece.casefold()
                        for piece in re.split(r"[-’']", word)
                        if len(piece) >= _SHORTEST_NAME + 1
                    )
        return cls(frozenset(parts))

    def _word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        folded = word.casefold()
        if folded in self.parts:
            return NAME
        for ending in _POSSESSIVE:
            if folded.endswith(ending) and folded[: -len(ending)] in self.parts:
                return NAME + word[-len(ending) :]
        if "-" in word:
            return "-".join(NAME if p.casefold() in self.parts else p for p in word.split("-"))
        return word

    def mask_names(self, text: str) -> str:
        """Every whole word that is part of a directory name becomes "[name]"."""
        if not self.parts:
            return text
        # Placeholders already in the text are words too ("email"): leave them alone.
        pieces = re.split(r"(\[(?:email|phone|name)\])", text)
        masked = "".join(
            piece if i % 2 else _WORD.sub(self._word, piece) for i, piece in enumerate(pieces)
        )
        return _NAME_RUN.sub(NAME, masked)


def load_directory(session: Session) -> Directory:
    """The directory as it stands: every person's name, active or not (a person who has left
    is still someone the team would recognise)."""
    names = tuple(sorted(session.scalars(select(Person.name))))
    return _directory_of(names)


@functools.lru_cache(maxsize=4)
def _directory_of(names: tuple[str, ...]) -> Directory:
    """Built once per state of the directory: a report reads comments of many groups, and
    5,000 names take about 0.2 s to split."""
    return Directory.of(names)


# A date (2026-12-03, 03/12/2026) has enough digits to pass for a phone; it is not one.
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < _PHONE_DIGITS or _DATE.fullmatch(text.strip()):
        return text
    return PHONE


def mask(body: str, directory: Directory) -> str:
    """The comment as a leader may read it: directory names, emails and phones replaced."""
    masked = _EMAIL.sub(EMAIL, body)
    masked = _PHONE.sub(_phone, masked)
    return directory.mask_names(masked)
