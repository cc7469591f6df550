"""`pulse db upgrade` stores the item bank once and never undoes an admin's rewording."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.instrument import ITEM_BANK
from pulse.surveys.bank import current_items, sync_item_bank
from pulse.surveys.items import edit_item_wording
from pulse.surveys.models import Item


def test_every_builtin_item_is_stored_once(session: Session) -> None:
    live = current_items(session)
    assert set(live) == {definition.code for definition in ITEM_BANK}
    assert sync_item_bank(session) == 0
    assert session.scalar(select(func.count()).select_from(Item)) == len(ITEM_BANK)


def test_an_edited_wording_survives_the_next_upgrade(session: Session) -> None:
    edited = edit_item_wording(
        session, code="safety.voice", wording="Bad news travels freely here."
    )
    session.commit()
    assert edited.version == 2
    assert sync_item_bank(session) == 0
    session.commit()
    live = current_items(session)["safety.voice"]
    assert live.version == 2 and live.wording == "Bad news travels freely here."
