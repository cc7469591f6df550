"""How items are named wherever they are listed, and their favourable share.

A reverse-worded item ("people here keep mistakes quiet") is one that agreeing with is
unfavourable: it is marked as such wherever it is listed, and its favourable share counts the
answers at 1–2, as its theme score reverse-codes it (issue 14), so that "30% agree" is never
read as good news.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pulse.confidentiality import round_pct

REVERSE_NOTE = "(reverse-worded: agreeing is unfavourable)"


def is_reverse(item: Any, reverse: Collection[tuple[str, int]]) -> bool:
    """Whether this item row's version is reverse-worded."""
    return (item.item_code, item.item_version) in reverse


def item_label(item: Any, reverse: Collection[tuple[str, int]]) -> str:
    """The item's wording, marked where it is reverse-worded."""
    return f"{item.wording} {REVERSE_NOTE}" if is_reverse(item, reverse) else item.wording


def favourable_pct(item: Any, reverse: Collection[tuple[str, int]]) -> int | None:
    """The share of favourable answers after reverse coding: 4–5, or 1–2 for a reverse-worded
    item; None where the item is hidden (a hidden item shows no share at all)."""
    if item.suppressed or item.top2_pct is None:
        return None
    if not is_reverse(item, reverse):
        return int(item.top2_pct)
    if not item.distribution:
        return None
    counts = {int(value): int(count) for value, count in item.distribution.items()}
    total = sum(counts.get(value, 0) for value in range(1, 6))
    if not total:
        return None
    return round_pct(100.0 * (counts.get(1, 0) + counts.get(2, 0)) / total)
