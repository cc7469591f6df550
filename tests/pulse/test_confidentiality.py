"""Suppression rules: thresholds, complementary suppression over team trees, safe display."""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.confidentiality import (
    DEFAULT_THRESHOLD,
    MAX_THRESHOLD,
    MIN_THRESHOLD,
    GroupCount,
    group_totals,
    participation_visible,
    round_mean,
    round_pct,
    suppress_tree,
    suppressed_reason,
    team_vs_rest,
    validate_threshold,
    visible_comments,
)


def test_threshold_bounds() -> None:
    assert DEFAULT_THRESHOLD == 5
    assert [validate_threshold(k) for k in range(3, 11)] == list(range(3, 11))
    for bad in (MIN_THRESHOLD - 1, MAX_THRESHOLD + 1, 0, -5):
        with pytest.raises(ValueError, match="between 3 and 10"):
            validate_threshold(bad)
    with pytest.raises(ValueError):
        validate_threshold(True)
    assert suppressed_reason(5) == "fewer than 5 responses"


# --- an independent checker for what visible figures reveal -------------------------------


def _subtree(groups: Sequence[GroupCount], root: Hashable) -> set[Hashable]:
    members = {root}
    grew = True
    while grew:
        grew = False
        for g in groups:
            if g.parent_id in members and g.id not in members:
                members.add(g.id)
                grew = True
    return members


def _small_subsets(atoms: list[tuple[Hashable, int]], k: int) -> Iterator[set[Hashable]]:
    """Every non-empty set of atoms whose respondents number 1..k-1."""

    def extend(start: int, chosen: list[Hashable], size: int) -> Iterator[set[Hashable]]:
        if chosen:
            yield set(chosen)
        for i in range(start, len(atoms)):
            atom, n = atoms[i]
            if size + n < k:
                yield from extend(i + 1, [*chosen, atom], size + n)

    yield from extend(0, [], 0)


def recoverable_small_sets(
    groups: Sequence[GroupCount], hidden: set[Hashable], k: int
) -> list[set[Hashable]]:
    """Sets of 1..k-1 respondents whose figures follow from visible figures by linear algebra.

    An atom is one group's direct members (those with n > 0); every shown figure (n, or the sum
    behind a mean) is the sum over the atoms of the group's subtree. A set S of atoms is
    recoverable exactly when its indicator vector lies in the row space of the visible groups'
    subtree indicators, i.e. some combination of additions and subtractions of visible figures
    gives S's figure. Means recover the same way through n x mean, so counts decide it.
    """
    atoms = [(g.id, g.n) for g in groups if g.n > 0]
    index = {atom: i for i, (atom, _) in enumerate(atoms)}
    rows = []
    for g in groups:
        if g.id not in hidden:
            row = np.zeros(len(atoms))
            for member in _subtree(groups, g.id):
                if member in index:
                    row[index[member]] = 1.0
            rows.append(row)
    if not rows or not atoms:
        return []
    visible = np.array(rows)
    projector = np.linalg.pinv(visible) @ visible
    found = []
    for subset in _small_subsets(atoms, k):
        vector = np.array([1.0 if atom in subset else 0.0 for atom, _ in atoms])
        if np.allclose(vector @ projector, vector, atol=1e-8):
            found.append(subset)
    return found


def _primary_only(groups: Sequence[GroupCount], k: int) -> set[Hashable]:
    return {gid for gid, total in group_totals(groups).items() if total < k}


# --- generated team trees ---------------------------------------------------------------------


@st.composite
def team_trees(draw: st.DrawFn) -> tuple[list[GroupCount], int]:
    """Forests of up to 14 groups, up to depth 3 below a root, with n from 0 (no data) up."""
    size = draw(st.integers(1, 14))
    depth: list[int] = []
    groups: list[GroupCount] = []
    for i in range(size):
        parents = [j for j in range(i) if depth[j] < 3]
        parent = None
        if parents and draw(st.integers(0, 9)) > 0:
            parent = draw(st.sampled_from(parents))
        depth.append(0 if parent is None else depth[parent] + 1)
        n = draw(st.one_of(st.integers(0, 4), st.integers(0, 14)))
        groups.append(
            GroupCount(id=f"g{i}", parent_id=None if parent is None else f"g{parent}", n=n)
        )
    k = draw(st.integers(MIN_THRESHOLD, MAX_THRESHOLD))
    return groups, k


@settings(max_examples=300, deadline=None)
@given(team_trees())
def test_no_small_set_can_be_recovered_from_visible_figures(
    tree: tuple[list[GroupCount], int],
) -> None:
    """Invariant of suppress_tree, checked by brute force over the visible figures.

    1. Every group whose total n is below k (including 0, "no data") is hidden.
    2. No set of respondents numbering 1..k-1 (built from groups' direct members) has a count,
       sum or mean that equals some combination of additions and subtractions of visible
       groups' figures. In particular no hidden group with fewer than k respondents, and no
       small block of a parent's direct members, can be worked out by subtraction.
    A hidden group of k or more may still be implied: its figure would have been safe to show.
    """
    groups, k = tree
    hidden = suppress_tree(groups, k)
    totals = group_totals(groups)
    assert {gid for gid, total in totals.items() if total < k} <= hidden
    assert hidden <= set(totals)
    assert recoverable_small_sets(groups, hidden, k) == []


@settings(max_examples=200, deadline=None)
@given(team_trees())
def test_residual_under_every_visible_group_is_zero_or_at_least_k(
    tree: tuple[list[GroupCount], int],
) -> None:
    """What a visible group minus its topmost visible subgroups leaves is 0 or >= k people."""
    groups, k = tree
    hidden = suppress_tree(groups, k)
    totals = group_totals(groups)
    parent = {g.id: g.parent_id for g in groups}
    for g in groups:
        if g.id in hidden:
            continue
        subtracted = 0
        for d_id in _subtree(groups, g.id) - {g.id} - hidden:
            # Count d only when no visible group sits between it and g.
            step = parent[d_id]
            while step != g.id and step in hidden:
                step = parent[step]
            if step == g.id:
                subtracted += totals[d_id]
        residual = totals[g.id] - subtracted
        assert residual == 0 or residual >= k


@settings(max_examples=200, deadline=None)
@given(team_trees())
def test_nothing_is_hidden_when_every_block_is_safe(tree: tuple[list[GroupCount], int]) -> None:
    """With every direct-member block 0 or >= k and every leaf >= k, nothing needs hiding."""
    groups, k = tree
    parents = {g.parent_id for g in groups}
    safe = [
        GroupCount(g.id, g.parent_id, k + g.n if g.id not in parents else (0 if g.n < k else g.n))
        for g in groups
    ]
    assert suppress_tree(safe, k) == set()


def _dept(*teams: int, direct: int = 0) -> list[GroupCount]:
    groups = [GroupCount("org", None, 0), GroupCount("dept", "org", direct)]
    groups += [GroupCount(f"t{i}", "dept", n) for i, n in enumerate(teams)]
    return groups


def test_checker_catches_subtraction_attack() -> None:
    groups = _dept(2, 9, 7, 12)
    naive = _primary_only(groups, 5)
    assert naive == {"t0"}
    assert {"t0"} in recoverable_small_sets(groups, naive, 5)


def test_next_smallest_sibling_is_hidden_too() -> None:
    assert suppress_tree(_dept(2, 9, 7, 12), 5) == {"t0", "t2"}


@pytest.mark.parametrize("k", [3, 5, 10])
def test_threshold_edges(k: int) -> None:
    assert suppress_tree(_dept(k, k), k) == set()
    assert suppress_tree(_dept(k - 1, k, k + 1), k) == {"t0", "t1"}
    assert suppress_tree(_dept(0, k, k + 1), k) == {"t0"}


def test_two_small_siblings_hiding_fewer_than_k_together() -> None:
    # 2 + 2 = 4 < 5: hiding both small teams would still reveal a group of four.
    hidden = suppress_tree(_dept(2, 2, 8, 9), 5)
    assert hidden == {"t0", "t1", "t2"}


def test_two_small_siblings_hiding_k_together() -> None:
    assert suppress_tree(_dept(2, 3, 8, 9), 5) == {"t0", "t1"}


def test_small_direct_members_force_a_child_hidden() -> None:
    # dept 3 direct + teams 6 and 8: dept minus both teams would reveal its 3 direct members.
    assert suppress_tree(_dept(6, 8, direct=3), 5) == {"t0"}


def test_only_child_with_small_direct_members() -> None:
    assert suppress_tree(_dept(10, direct=2), 5) == {"t0"}


def test_complement_prefers_a_sibling_that_protects() -> None:
    # dept: team a (3, hidden), team b (10) whose subteams b1, b2 (5 each) are visible, team c.
    # Hiding b would protect nothing (b = b1 + b2), so the larger c is hidden instead.
    groups = [
        GroupCount("dept", None, 0),
        GroupCount("a", "dept", 3),
        GroupCount("b", "dept", 0),
        GroupCount("b1", "b", 5),
        GroupCount("b2", "b", 5),
        GroupCount("c", "dept", 20),
    ]
    hidden = suppress_tree(groups, 5)
    assert hidden == {"a", "c"}
    assert recoverable_small_sets(groups, hidden, 5) == []


def test_complement_reaches_into_a_subtree() -> None:
    # Without c, b is the only thing to hide, and then one of its subteams must go as well.
    groups = [
        GroupCount("dept", None, 0),
        GroupCount("a", "dept", 3),
        GroupCount("b", "dept", 0),
        GroupCount("b1", "b", 5),
        GroupCount("b2", "b", 6),
    ]
    assert recoverable_small_sets(groups, {"a", "b"}, 5) == [{"a"}]
    hidden = suppress_tree(groups, 5)
    assert hidden == {"a", "b", "b1"}
    assert recoverable_small_sets(groups, hidden, 5) == []


def test_bad_trees_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        suppress_tree([GroupCount("a", None, 5), GroupCount("a", None, 5)], 5)
    with pytest.raises(ValueError, match="unknown parent"):
        suppress_tree([GroupCount("a", "x", 5)], 5)
    with pytest.raises(ValueError, match="cycle"):
        suppress_tree([GroupCount("a", "b", 5), GroupCount("b", "a", 5)], 5)
    with pytest.raises(ValueError, match="negative"):
        suppress_tree([GroupCount("a", None, -1)], 5)
    with pytest.raises(ValueError):
        suppress_tree([GroupCount("a", None, 5)], 2)


def test_group_totals_cover_subtrees() -> None:
    totals = group_totals(_dept(2, 9, direct=4))
    assert totals == {"org": 15, "dept": 15, "t0": 2, "t1": 9}


def test_team_vs_rest() -> None:
    assert team_vs_rest(5, 10, 5, team_hidden=False)
    assert not team_vs_rest(4, 10, 5, team_hidden=False)
    assert not team_vs_rest(5, 9, 5, team_hidden=False)
    # A team hidden as a complement has n >= k, but org minus rest would give it away.
    assert not team_vs_rest(8, 40, 5, team_hidden=True)
    with pytest.raises(ValueError):
        team_vs_rest(11, 10, 5, team_hidden=False)


def test_participation_visible() -> None:
    assert not participation_visible(4, 5)
    assert participation_visible(5, 5)
    assert participation_visible(3, 3)


def test_visible_comments() -> None:
    comments = ["  more focus time ", "", "   ", "clearer priorities", "\n"]
    assert visible_comments(comments, respondents=4, k=5, rng=random.Random(1)) == []
    shown = visible_comments(comments, respondents=5, k=5, rng=random.Random(1))
    assert sorted(shown) == ["clearer priorities", "more focus time"]
    assert visible_comments(["", " "], respondents=6, k=5, rng=random.Random(1)) == []
    with pytest.raises(ValueError):
        visible_comments(["a", "b"], respondents=1, k=3, rng=random.Random(1))


def test_visible_comments_are_shuffled() -> None:
    comments = [f"comment {i}" for i in range(20)]
    orders = {
        tuple(visible_comments(comments, respondents=20, k=5, rng=random.Random(seed)))
        for seed in range(5)
    }
    assert len(orders) > 1
    assert all(sorted(order) == sorted(comments) for order in orders)


@pytest.mark.parametrize(
    ("x", "shown"), [(3.45, 3.5), (2.25, 2.3), (3.449, 3.4), (4.0, 4.0), (1.05, 1.1)]
)
def test_round_mean(x: float, shown: float) -> None:
    assert round_mean(x) == shown


@pytest.mark.parametrize(("x", "shown"), [(62.5, 63), (62.49, 62), (0.0, 0), (100.0, 100)])
def test_round_pct(x: float, shown: int) -> None:
    assert round_pct(x) == shown


@settings(max_examples=3000, deadline=None)
@given(
    st.floats(min_value=-10_000, max_value=10_000, allow_nan=False)
    | st.integers(min_value=-100_000, max_value=100_000).map(lambda i: i / 100 + 0.005)
    | st.integers(min_value=-100_000, max_value=100_000).map(lambda i: i / 20)
)
def test_rounding_agrees_with_decimal_half_up_on_the_shortest_decimal(x: float) -> None:
    # The fast path must give exactly what rounding the printed decimal half-up gives,
    # halves and near-halves included.
    decimal = Decimal(str(x))
    assert round_mean(x) == float(decimal.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    assert round_pct(x) == int(decimal.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def test_rounding_rejects_nan() -> None:
    with pytest.raises(ValueError):
        round_mean(float("nan"))
