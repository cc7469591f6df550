"""Flags that explain themselves, reverse-worded items marked, and the link to the team report.

Issue 14 items 3 and 4 and issue 15's team report link, on the dashboard: every change flag's
tooltip names what it was compared with (the baseline's cycles and n), the change with its
interval and n on both sides; reverse-worded items are marked wherever items are listed, with
their favourable share after reverse coding; the team view links to the report of a closed
cycle only. Confidentiality at the boundary: a group of k−1 shows no flag, no note, no share.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dashboard import callbacks
from dashboard.tab_team import REPORT_LINK_TEXT
from pulse.people.models import Person
from pulse.reporting.models import ItemAggregate, ThemeAggregate
from pulse.reporting.wording import REVERSE_NOTE
from pulse.surveys.models import Item
from tests.dashboard.conftest import K, World
from tests.dashboard.test_dash_callbacks import _html, plain

NOTE = (
    "Significant rise of +0.6 (95% interval +0.2 to +1.0)<br>measured over 2 cycles, n = 16"
    "<br>compared with the 2 cycles before, n = 15, mean 3.3"
)


@pytest.fixture
def leader(make_user: Callable[..., Person], world: World) -> Person:
    return make_user("lead@example.org", role="leader", team="Engineering")


def _explain(session: Session, world: World, team: Any, theme: str = "safety") -> None:
    """What the change test of the last cycle compared, as an aggregation run stores it."""
    session.execute(
        update(ThemeAggregate)
        .where(
            ThemeAggregate.team_id == team.id,
            ThemeAggregate.cycle_id == world.cycles[-1].id,
            ThemeAggregate.theme == theme,
        )
        .values(
            delta=0.6,
            delta_low=0.2,
            delta_high=1.0,
            window_n=16,
            window_cycles=2,
            baseline_n=15,
            baseline_mean=3.3,
            baseline_cycles=2,
        )
    )
    session.commit()


def _hovers(figure: Any) -> list[str]:
    """Every tooltip text of a figure (custom data of every trace, flattened)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif value is not None:
            found.append(str(value))

    for trace in plain(figure)["data"]:
        walk(trace.get("customdata"))
    return found


def test_heatmap_flag_tooltip_names_change_interval_window_and_baseline(
    leader: Person,
    world: World,
    populate: Callable[..., None],
    session: Session,
    signed_in: Any,
) -> None:
    # Alpha has exactly k answers (shown); Beta k−1 (hidden), both with a stored flag.
    populate({"alpha": K, "beta": K - 1}, {("alpha", "safety"): "up", ("beta", "safety"): "up"})
    _explain(session, world, world.alpha)
    _explain(session, world, world.beta)
    with signed_in(leader):
        figure, _table, rows = callbacks.render_overview(world.cycles[-1].id)
    hovers = _hovers(figure)
    alpha_cell = [h for h in hovers if NOTE in h]
    assert alpha_cell, hovers
    assert f"n = {K} answers" in alpha_cell[0]
    # Exactly one flag explains itself: Beta's hidden cell says why it is hidden, nothing else.
    assert sum("Significant" in h for h in hovers) == 1
    assert not any("n = 15" in h and "Beta" in h for h in hovers)
    assert set(rows) >= {"Alpha", "Beta"}


def test_trend_flag_marker_explains_itself(
    leader: Person,
    world: World,
    populate: Callable[..., None],
    session: Session,
    signed_in: Any,
) -> None:
    populate({"alpha": 8}, {("alpha", "safety"): "up"})
    _explain(session, world, world.alpha)
    with signed_in(leader):
        figure, *_ = callbacks.render_team(world.alpha.id)
    flags = [t for t in plain(figure)["data"] if t.get("name") == "Significant change"]
    notes = [note for trace in flags for note in trace.get("customdata") or []]
    assert notes == [NOTE]
    assert all("%{customdata}" in t["hovertemplate"] for t in flags)


def _add_reverse_item(session: Session, world: World, team: Any, n: int) -> Item:
    item = session.scalars(
        select(Item).where(Item.code == "safety.mistakes").order_by(Item.version.desc())
    ).first()
    assert item is not None and item.reverse
    # n answers: mostly disagreeing, which for this item is the favourable end.
    counts = {"1": n - 3, "2": 1, "3": 1, "4": 1, "5": 0}
    session.add(
        ItemAggregate(
            team_id=team.id,
            cycle_id=world.cycles[-1].id,
            item_id=item.id,
            n=n,
            mean=2.0,
            distribution=counts,
            top2_pct=100.0 / n,
            suppressed=n < K,
        )
    )
    session.commit()
    return item


def test_reverse_worded_items_are_marked_with_their_favourable_share(
    leader: Person,
    world: World,
    populate: Callable[..., None],
    session: Session,
    signed_in: Any,
) -> None:
    populate({"alpha": 8, "beta": K - 1})
    _add_reverse_item(session, world, world.alpha, 8)
    _add_reverse_item(session, world, world.beta, K - 1)
    cycle = world.cycles[-1].id
    with signed_in(leader):
        figure, table = callbacks.render_items(world.alpha.id, cycle)
        _hidden_figure, hidden_table = callbacks.render_items(world.beta.id, cycle)
        options, _chosen = callbacks.item_trend_choices(world.alpha.id, cycle)
    rows = {row["item"]: row for row in table.data}
    marked = [label for label in rows if label.endswith(REVERSE_NOTE)]
    assert len(marked) == 1
    # 8 answers: 5 at 1, 1 at 2 → 75% favourable after reverse coding; 13% agree.
    assert rows[marked[0]]["agree"] == "13%"
    assert rows[marked[0]]["favourable"] == "75%"
    # An item that is not reverse-worded: favourable is its share at 4–5, unmarked.
    plain_rows = [row for label, row in rows.items() if label not in marked]
    assert plain_rows and all(row["favourable"] == row["agree"] for row in plain_rows)
    assert any(REVERSE_NOTE in label for label in plain(figure)["data"][0]["y"])
    assert [o for o in options if REVERSE_NOTE in o["label"]]
    # Beta has k−1 answers: the item is listed (marked) but shows no share at all.
    hidden_rows = [row for row in hidden_table.data if row["item"].endswith(REVERSE_NOTE)]
    assert hidden_rows and all("%" not in row["favourable"] for row in hidden_rows)
    assert all("%" not in row["agree"] for row in hidden_rows)


def test_team_report_link_only_for_a_closed_cycle_of_a_team_in_scope(
    leader: Person,
    world: World,
    populate: Callable[..., None],
    session: Session,
    signed_in: Any,
) -> None:
    populate({"alpha": 8, "gamma": 8})
    closed = world.cycles[-1]
    with signed_in(leader):
        link = _html(callbacks.render_report_link(str(world.alpha.id), str(closed.id)))
        forged = callbacks.render_report_link(str(world.gamma.id), str(closed.id))
        other = callbacks.render_report_link(str(world.alpha.id), "999999")
    href = f"/reports/teams/{world.alpha.id}/cycles/{closed.id}"
    assert json.loads(link)["props"]["children"]["props"]["href"] == href
    assert REPORT_LINK_TEXT in link
    assert forged is None and other is None
    closed.status = "open"
    session.commit()
    with signed_in(leader):
        pending = _html(callbacks.render_report_link(str(world.alpha.id), str(closed.id)))
    assert "/reports/teams/" not in pending
    assert "once this cycle has closed" in pending
