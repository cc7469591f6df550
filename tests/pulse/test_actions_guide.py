"""The conversation guide picks a prompt for low or dropping themes, and for rising AI concern."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pulse.actions.guide import PROMPTS, prompts_for


@dataclass(frozen=True)
class Row:
    theme: str
    mean: float | None
    change: str | None = None
    suppressed: bool = False
    cycle_opened: date = date(2026, 10, 5)


def test_every_theme_and_direction_has_its_own_wording() -> None:
    assert set(PROMPTS) == {
        ("safety", "low"),
        ("safety", "drop"),
        ("learning", "low"),
        ("learning", "drop"),
        ("ai", "high"),
        ("ai", "rising"),
    }
    texts = [text for _, text in PROMPTS.values()]
    assert len(set(texts)) == len(texts)


def test_low_safety_and_a_drop_in_learning() -> None:
    prompts = prompts_for([Row("safety", 3.2), Row("learning", 3.9, "down"), Row("ai", 2.0)])
    assert [(p.theme, p.direction) for p in prompts] == [("safety", "low"), ("learning", "drop")]


def test_ai_is_a_concern_index_high_is_what_needs_talking_about() -> None:
    assert [(p.theme, p.direction) for p in prompts_for([Row("ai", 3.8, "up")])] == [
        ("ai", "high"),
        ("ai", "rising"),
    ]
    assert prompts_for([Row("ai", 2.0, "down")]) == []
    assert prompts_for([Row("safety", 4.2, "up")]) == []


def test_only_the_latest_visible_row_counts() -> None:
    rows = [
        Row("safety", 2.9, cycle_opened=date(2026, 9, 7)),
        Row("safety", 4.1, cycle_opened=date(2026, 9, 21)),
        Row("safety", None, suppressed=True, cycle_opened=date(2026, 10, 5)),
    ]
    assert prompts_for(rows) == []
    assert prompts_for([Row("safety", None, "down", suppressed=True)]) == []
