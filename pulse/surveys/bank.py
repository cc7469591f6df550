"""Keeping the stored item bank in step with the instrument: new wording, new version."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.instrument import ITEM_BANK, ItemDefinition
from pulse.surveys.models import Item


def current_items(session: Session) -> dict[str, Item]:
    """The live version of every item, by code."""
    items = session.scalars(select(Item).where(Item.retired_at.is_(None)))
    return {item.code: item for item in items}


def add_version(session: Session, *, current: Item | None, definition: ItemDefinition) -> Item:
    """Retire `current` (if any) and store `definition` as the next version."""
    version = 1
    if current is not None:
        current.retired_at = utcnow()
        version = current.version + 1
    item = Item(
        code=definition.code,
        version=version,
        theme=definition.theme,
        construct=definition.construct,
        reverse=definition.reverse,
        is_anchor=definition.is_anchor,
        scale=definition.scale,
        wording=definition.wording,
        note=definition.note,
    )
    session.add(item)
    return item


def sync_item_bank(session: Session) -> int:
    """Store the built-in version of every item not stored yet; returns how many were added.

    An item already stored is left alone: its live wording may be an admin's edit (a newer
    version), which an upgrade must never overwrite. Rewording is always an explicit new version.
    """
    stored = set(session.scalars(select(Item.code).distinct()))
    added = 0
    for definition in ITEM_BANK:
        if definition.code in stored:
            continue
        add_version(session, current=None, definition=definition)
        added += 1
    session.flush()
    return added
