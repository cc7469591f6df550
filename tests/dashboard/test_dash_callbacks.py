"""Dashboard callbacks as functions: rights on every id, suppression at k−1 and k, empty data."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from plotly.io.json import to_json_plotly
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import callbacks
from dashboard.access import NOT_AVAILABLE, current_viewer
from pulse.people.models import Person
from tests.dashboard.conftest import K, World

FORGED = [None, "", "abc", -1, 0, True, 10**9, {"id": 1}, [1], "1 OR 1=1"]


def _unpack(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _unpack(value.tolist())
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(part) for part in str(value["shape"]).split(",")])
        return _unpack(array)
    if isinstance(value, dict):
        return {key: _unpack(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unpack(item) for item in value]
    return value


def plain(figure: Any) -> dict[str, Any]:
    """The figure as the browser receives it: Dash's own JSON of the callback's output
    (numpy arrays shipped base64-encoded), read back as plain lists; NaN → None."""
    return _unpack(json.loads(to_json_plotly(figure)))  # type: ignore[no-any-return]


def _texts(figure: Any) -> list[str]:
    """Every text a figure shows (heatmap cells, annotations, trace names, axis labels)."""
    data = plain(figure)
    found: list[str] = []
    for trace in data["data"]:
        for key in ("text", "y", "x", "name", "customdata"):
            value = trace.get(key)
            if value is not None:
                found.extend(str(v) for v in np.ravel(np.array(value, dtype=object)))
    for note in data["layout"].get("annotations", []):
        found.append(note.get("text", ""))
    return found


def _html(component: Any) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json())


@pytest.fixture
def leader(make_user: Callable[..., Person], world: World) -> Person:
    return make_user("lead@example.org", role="leader", team="Engineering")


@pytest.fixture
def admin(make_user: Callable[..., Person], world: World) -> Person:
    return make_user("admin@example.org", role="admin")


def test_overview_shows_only_the_leaders_subtree(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8, "beta": 9, "gamma": 12, "eng": 17})
    with signed_in(leader):
        figure, table, rows_map = callbacks.render_overview(world.cycles[-1].id)
    texts = " ".join(_texts(figure)) + _html(table)
    assert "Alpha" in texts and "Beta" in texts and "Engineering" in texts
    assert "Gamma" not in texts and "Operations" not in texts and "Acme" not in texts
    assert set(rows_map.values()) == {world.alpha.id, world.beta.id, world.eng.id}


def test_admin_sees_every_team(
    admin: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8, "gamma": 12})
    with signed_in(admin):
        figure, _, _ = callbacks.render_overview(None)
    texts = " ".join(_texts(figure))
    assert "Alpha" in texts and "Gamma" in texts


@pytest.mark.parametrize(("n", "shown"), [(K - 1, False), (K, True)])
def test_heatmap_cell_suppressed_below_k(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any, n: int, shown: bool
) -> None:
    populate({"alpha": n}, changes={("alpha", "safety"): "down"})
    with signed_in(leader):
        figure, _table, _ = callbacks.render_overview(world.cycles[-1].id)
    data = plain(figure)["data"]
    z = [v for trace in data if "z" in trace for v in np.ravel(np.array(trace["z"], dtype=object))]
    # Shown cells' figures are heatmap text; hidden cells' reasons a text trace of their own.
    texts = [
        str(v) for trace in data for v in np.ravel(np.array(trace["text"], dtype=object)) if str(v)
    ]
    if shown:
        assert all(v is not None for v in z)
        assert any(t.startswith("3.6 ▼") for t in texts)  # mean, and the significant drop
        assert "(3.3–3.9)" in " ".join(texts)
    else:
        assert all(v is None for v in z)
        assert set(texts) == {f"fewer than {K} responses"}
        assert "▼" not in " ".join(_texts(figure))
        assert "3.6" not in " ".join(_texts(figure))


def test_participation_rate_needs_k_invited(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": K - 3, "beta": K})  # invited = n + 2 → K−1 and K+2
    with signed_in(leader):
        _, table, _ = callbacks.render_overview(world.cycles[-1].id)
    html = _html(table)
    assert "too small to report on its own; its answers count towards Engineering" in html
    assert "71%" in html  # Beta: 5 of 7


@pytest.mark.parametrize("value", FORGED)
def test_forged_or_junk_team_ids_get_nothing(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any, value: object
) -> None:
    populate({"alpha": 8, "gamma": 12})
    with signed_in(leader):
        results = [
            callbacks.render_team(value),
            callbacks.render_items(value, world.cycles[-1].id),
            callbacks.render_comments(value, world.cycles[-1].id),
            callbacks.render_compare(value, world.cycles[-1].id),
        ]
    dumped = json.dumps(
        results, default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o)
    )
    assert "Gamma" not in dumped and "3.6" not in dumped


def test_another_subtrees_team_is_not_available(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8, "gamma": 12})
    with signed_in(leader):
        figure, _guide, actions, _ = callbacks.render_team(world.gamma.id)
        items_figure, _items_table = callbacks.render_items(
            str(world.gamma.id), world.cycles[-1].id
        )
        opened = callbacks.open_team_from_click(
            {"points": [{"y": "Gamma"}]}, {"Gamma": world.gamma.id}
        )
        mine = callbacks.open_team_from_click(
            {"points": [{"y": "Alpha"}]}, {"Alpha": world.alpha.id}
        )
        own = callbacks.render_team(world.alpha.id)
    assert NOT_AVAILABLE in " ".join(_texts(figure))
    assert NOT_AVAILABLE in " ".join(_texts(items_figure))
    assert opened == (callbacks.no_update, callbacks.no_update)
    assert mine == (str(world.alpha.id), "team")
    assert "Gamma" not in _html(actions)
    assert NOT_AVAILABLE not in " ".join(_texts(own[0]))


def test_a_cycle_id_of_no_report_of_the_team_is_refused(
    leader: Person, world: World, session: Session, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8})
    with signed_in(leader):
        figure, _ = callbacks.render_items(world.alpha.id, 999_999)
        allowed, _ = callbacks.render_items(world.alpha.id, world.cycles[-1].id)
    # Nothing of the team is read for a cycle it was not surveyed in; the leader is told why.
    assert " ".join(_texts(figure)) == callbacks.NOT_SURVEYED
    assert "Psychological safety" in " ".join(_texts(allowed))


def test_team_view_bands_changes_anchor_and_participation(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8}, changes={("alpha", "learning"): "up"})
    with signed_in(leader):
        figure, _guide, actions, _ = callbacks.render_team(world.alpha.id)
    data = plain(figure)["data"]
    names = [trace.get("name") for trace in data]
    assert names.count("95% interval") == 3
    assert "Anchor item (asked every cycle)" in names
    changes = [trace for trace in data if trace.get("name") == "Significant change"]
    flagged = [text for trace in changes for text in trace["text"]]
    assert flagged == ["significant rise"]  # one flagged change, nothing else marked
    bars = [trace for trace in data if trace["type"] == "bar"]
    assert bars and bars[0]["y"] == [80.0, 80.0, 80.0]
    assert "No actions recorded" in _html(actions)


def test_team_view_at_k_minus_one_shows_no_figures(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": K - 1}, changes={("alpha", "learning"): "up"})
    with signed_in(leader):
        figure, guide, _, _ = callbacks.render_team(world.alpha.id)
    data = plain(figure)["data"]
    scores = [v for trace in data if trace["type"] == "scatter" for v in (trace.get("y") or [])]
    assert all(v is None or v == 1.2 for v in scores)
    assert not [t for t in data if t.get("name") == "Significant change" and t.get("text")]
    assert "Nothing stands out" in _html(guide)


def test_empty_data_reads_plainly(leader: Person, world: World, signed_in: Any) -> None:
    with signed_in(leader):
        figure, _table, _ = callbacks.render_overview(None)
        team = callbacks.render_team(world.alpha.id)
        options = callbacks.overview_cycle_options(current_viewer())  # type: ignore[arg-type]
    assert "No closed survey cycle" in " ".join(_texts(figure))
    assert "No results for this team yet." in " ".join(_texts(team[0]))
    assert options == ([], None)


def test_member_without_rights_gets_nothing(
    make_user: Callable[..., Person],
    session: Session,
    world: World,
    populate: Callable[..., None],
    signed_in: Any,
) -> None:
    populate({"alpha": 8})
    person = make_user("member@example.org", role="leader", team="Alpha")
    person.roles.clear()
    session.commit()
    with signed_in(person):
        figure, _, _ = callbacks.render_overview(None)
        team = callbacks.render_team(world.alpha.id)
    assert NOT_AVAILABLE in " ".join(_texts(figure))
    assert NOT_AVAILABLE in " ".join(_texts(team[0]))


def test_overview_download_holds_only_visible_teams(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": 8, "beta": K - 1, "gamma": 12})
    with signed_in(leader):
        sent = callbacks.download(1, "overview", None, world.cycles[0].id)
        forged = callbacks.download(1, "team", world.gamma.id, world.cycles[0].id)
    assert "Alpha" in sent["content"] and "Gamma" not in sent["content"]
    lines = sent["content"].strip().splitlines()
    assert len(lines) == 1 + 2 * 3  # header + Alpha and Beta × 3 themes of that one cycle
    assert "Beta" in sent["content"] and f"fewer than {K} responses" in sent["content"]
    assert forged["content"] == ""
    assert sent["filename"].endswith(".csv")


def test_items_distribution_suppressed_below_k(
    leader: Person, world: World, populate: Callable[..., None], signed_in: Any
) -> None:
    populate({"alpha": K - 1, "beta": K})
    with signed_in(leader):
        hidden, hidden_table = callbacks.render_items(world.alpha.id, world.cycles[-1].id)
        shown, shown_table = callbacks.render_items(world.beta.id, world.cycles[-1].id)
    hidden_x = [v for t in plain(hidden)["data"] if t["type"] == "bar" for v in t["x"]]
    shown_x = [v for t in plain(shown)["data"] if t["type"] == "bar" for v in t["x"]]
    assert all(v is None for v in hidden_x)
    assert f"fewer than {K} responses" in _html(hidden_table)
    assert any(v for v in shown_x) and "60%" in _html(shown_table)


def test_forged_ids_reach_no_query_for_other_teams(
    leader: Person, world: World, session: Session, populate: Callable[..., None], signed_in: Any
) -> None:
    # Recording an action for a forged team writes nothing.
    from pulse.actions.models import TeamAction

    populate({"alpha": 8, "gamma": 12})
    with signed_in(leader):
        result, version, _ = callbacks.save_action(
            1, world.gamma.id, world.cycles[-1].id, "safety", "Talk more", 0
        )
    assert NOT_AVAILABLE in _html(result)
    assert version is callbacks.no_update
    assert session.scalars(select(TeamAction)).all() == []
