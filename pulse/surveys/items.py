"""Editing the item bank: new wording makes a new item version, never a rewrite."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from pulse.instrument import get_item
from pulse.surveys.bank import add_version, current_items
from pulse.surveys.models import Item

MAX_WORDING = 300


def edit_item_wording(session: Session, *, code: str, wording: str) -> Item:
    """Store `wording` as the next version of item `code`; the old version is retired.

    Answers stay with the version they were given to, so trends never join two wordings.
    Unchanged wording returns the live version untouched.
    """
    definition = get_item(code)
    text = " ".join(wording.split())
    if not text:
        raise ValueError("an item needs some wording")
    if len(text) > MAX_WORDING:
        raise ValueError(f"item wording must be at most {MAX_WORDING} characters")
    current = current_items(session).get(code)
    if current is not None and current.wording == text:
        return current
    base = definition if current is None else replace(definition, note=current.note)
    item = add_version(session, current=current, definition=replace(base, wording=text))
    session.flush()
    return item
