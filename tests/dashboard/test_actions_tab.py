"""The Actions tab: owner, due date and status; its download holds the actions themselves."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from dashboard import callbacks
from pulse.people.models import Person
from tests.dashboard.conftest import World


@pytest.fixture
def leader(make_user: Callable[..., Person], world: World) -> Person:
    return make_user("lead@example.org", role="leader", team="Engineering")


def test_actions_download_holds_the_actions(
    leader: Person,
    world: World,
    populate: Callable[..., None],
    signed_in: Any,
    session: Session,
) -> None:
    populate({"alpha": 8})
    with signed_in(leader):
        done = callbacks.save_action(
            1,
            str(world.alpha.id),
            str(world.cycles[-1].id),
            "safety",
            "Open each retro with one thing that went wrong",
            0,
            "Sam",
            "2026-11-30",
        )
        assert done[1] == 1
        _listed, choices, _chosen = callbacks.render_action_tracker(str(world.alpha.id))
        assert [c["label"] for c in choices] == ["Open each retro with one thing that went wrong"]
        _saved, version = callbacks.save_status(
            1, str(world.alpha.id), choices[0]["value"], "done", 1
        )
        assert version == 2
        sent = callbacks.download(1, "actions", str(world.alpha.id), str(world.cycles[-1].id))
        forged = callbacks.download(1, "actions", str(world.gamma.id), None)
    rows = list(csv.DictReader(io.StringIO(sent["content"])))
    assert sent["filename"] == "team-pulse-actions.csv"
    assert [(r["action"], r["owner"], r["due"], r["status"]) for r in rows] == [
        ("Open each retro with one thing that went wrong", "Sam", "2026-11-30", "Done")
    ]
    assert forged["content"] == ""


def test_a_bad_due_date_is_explained(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8})
    with signed_in(leader):
        result, version, _ = callbacks.save_action(
            1, world.alpha.id, world.cycles[-1].id, "safety", "Something", 0, None, "next week"
        )
    assert version is callbacks.no_update
    assert "due date" in str(result)
