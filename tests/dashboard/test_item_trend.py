"""An item's answers over cycles: only cycles where the team's answers to it are shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dashboard import callbacks
from dashboard.access import NOT_AVAILABLE
from pulse.people.models import Person
from tests.dashboard.conftest import K, World


@pytest.fixture
def leader(make_user: Callable[..., Person], world: World) -> Person:
    return make_user("lead@example.org", role="leader", team="Engineering")


def test_item_trend_has_one_bar_per_shown_cycle(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8, "beta": K - 1})
    with signed_in(leader):
        options, chosen = callbacks.item_trend_choices(world.alpha.id, world.cycles[-1].id)
        figure = callbacks.render_item_trend(world.alpha.id, chosen)
        hidden = callbacks.render_item_trend(world.beta.id, chosen)
        forged = callbacks.render_item_trend(world.gamma.id, chosen)
    assert chosen in {o["value"] for o in options}
    bars = [trace for trace in figure["data"] if trace["type"] == "bar"]
    assert len(bars) == 5  # one per answer, 1–5
    assert [len(bar["x"]) for bar in bars] == [3] * 5  # three closed cycles, all shown
    # Beta is below k in every cycle: no bar, no count, only the plain sentence.
    assert hidden["data"] == []
    assert "No cycle shows" in json.dumps(hidden)
    assert NOT_AVAILABLE in json.dumps(forged)
