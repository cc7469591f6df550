"""The item bank and what each program asks per cycle."""

from __future__ import annotations

import pytest

from pulse.instrument import (
    COMMENT_PROMPT,
    DONT_KNOW_LABEL,
    ENPS_ITEM,
    ITEM_BANK,
    ITEMS_BY_CODE,
    PROGRAMS,
    ROTATION,
    SCALE_LABELS,
    THEME_LABELS,
    THEMES,
    ItemDefinition,
    get_item,
    items_for_cycle,
    module_for_cycle,
    theme_items,
)

REVERSED = {
    "safety.mistakes",
    "safety.help",
    "safety.inclusion",
    "learning.hiding",
    "ai.checking",
    "ai.transparency",
    "ai.support",
}


def test_bank_has_six_items_per_theme_with_one_anchor_each() -> None:
    assert THEMES == ("safety", "learning", "ai")
    assert set(THEME_LABELS) == set(THEMES)
    assert len(ITEM_BANK) == 18
    for theme in THEMES:
        items = theme_items(theme)
        assert len(items) == 6
        assert [item.is_anchor for item in items] == [True] + [False] * 5
        assert items[0].code == f"{theme}.anchor"


def test_codes_reverse_flags_and_scales() -> None:
    codes = [item.code for item in ITEM_BANK]
    assert len(set(codes)) == len(codes)
    assert all(
        code.split(".")[0] == item.theme for code, item in zip(codes, ITEM_BANK, strict=True)
    )
    assert {item.code for item in ITEM_BANK if item.reverse} == REVERSED
    for item in ITEM_BANK:
        assert item.scale == ("agree5_dk" if item.theme == "ai" else "agree5")
        assert item.allows_dont_know == (item.theme == "ai")
        assert item.wording.strip() and item.note.strip() and item.construct.strip()
        assert len(item.wording) <= 120


def test_enps_item_stays_out_of_themes() -> None:
    assert ENPS_ITEM.code == "enps"
    assert ENPS_ITEM.scale == "nps"
    assert ENPS_ITEM.theme not in THEMES
    assert ENPS_ITEM not in ITEM_BANK
    assert get_item("enps") is ENPS_ITEM
    assert len(ITEMS_BY_CODE) == 19
    assert COMMENT_PROMPT.strip()


def test_scale_labels() -> None:
    assert list(SCALE_LABELS) == [1, 2, 3, 4, 5]
    assert SCALE_LABELS[1] == "Strongly disagree"
    assert SCALE_LABELS[5] == "Strongly agree"
    assert DONT_KNOW_LABEL not in SCALE_LABELS.values()


def test_items_are_validated() -> None:
    with pytest.raises(ValueError):
        ItemDefinition("x", "morale", "c", False, False, "agree5", "w", "n")
    with pytest.raises(ValueError):
        ItemDefinition("x", "safety", "c", False, False, "agree7", "w", "n")
    with pytest.raises(ValueError):
        get_item("safety.nope")
    with pytest.raises(ValueError):
        theme_items("enps")


@pytest.mark.parametrize("sequence", range(9))
def test_rotating_cycle_asks_anchors_then_one_module(sequence: int) -> None:
    codes = items_for_cycle("rotating", sequence)
    module = ROTATION[sequence % 3]
    assert module_for_cycle("rotating", sequence) == module
    assert codes[:3] == ["safety.anchor", "learning.anchor", "ai.anchor"]
    assert codes[3:] == [item.code for item in theme_items(module)[1:]]
    assert len(codes) == 8


def test_rotation_covers_every_theme_in_full_every_third_cycle() -> None:
    asked = set().union(*(items_for_cycle("rotating", s) for s in range(3)))
    assert asked == {item.code for item in ITEM_BANK}
    assert [module_for_cycle("rotating", s) for s in range(4)] == [
        "safety",
        "learning",
        "ai",
        "safety",
    ]


def test_full_cycle_asks_everything_in_theme_order() -> None:
    assert items_for_cycle("full", 4) == [item.code for item in ITEM_BANK]
    assert [get_item(c).theme for c in items_for_cycle("full", 0)] == [
        theme for theme in THEMES for _ in range(6)
    ]
    assert module_for_cycle("full", 4) is None


def test_unknown_program_or_sequence() -> None:
    assert PROGRAMS == ("rotating", "full")
    with pytest.raises(ValueError, match="unknown survey program 'weekly'"):
        items_for_cycle("weekly", 0)
    with pytest.raises(ValueError):
        module_for_cycle("weekly", 0)
    with pytest.raises(ValueError):
        items_for_cycle("rotating", -1)
