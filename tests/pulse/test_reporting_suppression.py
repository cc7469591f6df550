"""Deciding hidden groups: the shortcut for cells with nothing to hide agrees with the rules."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pulse.confidentiality import GroupCount, suppress_tree
from pulse.reporting.suppression import hidden_groups, hidden_rows


def _by_the_rules(parents: dict[int, int | None], totals: dict[int, int], k: int) -> set[int]:
    """suppress_tree over the groups with respondents, every time (no shortcut)."""
    present = {group for group, total in totals.items() if total > 0}
    child_sum: dict[int, int] = {}
    for group in present:
        parent = parents.get(group)
        if parent in present:
            child_sum[parent] = child_sum.get(parent, 0) + totals[group]
    counts = [
        GroupCount(
            id=group,
            parent_id=parents.get(group) if parents.get(group) in present else None,
            n=max(totals[group] - child_sum.get(group, 0), 0),
        )
        for group in sorted(present)
    ]
    hidden = {int(group) for group in suppress_tree(counts, k)}  # type: ignore[call-overload]
    return hidden | {group for group in totals if group not in present}


def _tree(rng: random.Random) -> dict[int, int | None]:
    """An organisation, a few departments (some nested), teams under them."""
    parents: dict[int, int | None] = {1: None}
    for group in range(2, rng.randint(4, 30)):
        parents[group] = rng.choice([g for g in parents if g < group])
    return parents


def _totals(rng: random.Random, parents: dict[int, int | None], k: int) -> dict[int, int]:
    """Subtree totals from own counts that are mostly 0 or ≥ k, sometimes small, sometimes
    off the tree (a moved team's stale figures)."""
    own = {g: rng.choice([0, 0, 0, k, k + 1, k + 4, 12, rng.randint(1, k - 1)]) for g in parents}
    totals = dict(own)
    for group in sorted(parents, reverse=True):
        parent = parents[group]
        if parent is not None:
            totals[parent] += totals[group]
    if rng.random() < 0.1:
        totals[rng.choice(list(totals))] += rng.choice([-3, 2])
    return {g: max(t, 0) for g, t in totals.items() if rng.random() < 0.95}


@pytest.mark.parametrize("seed", range(8))
def test_hidden_groups_equal_suppress_tree_on_every_cell(seed: int) -> None:
    rng = random.Random(seed)
    shortcut = 0
    for _ in range(300):
        parents = _tree(rng)
        k = rng.randint(3, 10)
        totals = _totals(rng, parents, k)
        decided = hidden_groups(parents, totals, k)
        assert decided == _by_the_rules(parents, totals, k)
        shortcut += not (decided - {g for g, t in totals.items() if t == 0})
    # Both kinds of cell occur: ones with nothing to hide and ones with something.
    assert 0 < shortcut < 300


def test_a_tree_with_a_cycle_is_still_refused() -> None:
    # Every count would pass the shortcut's test: the cycle alone sends it to suppress_tree.
    parents: dict[int, int | None] = {1: None, 2: 3, 3: 2}
    with pytest.raises(ValueError, match="cycle"):
        hidden_groups(parents, {1: 10, 2: 10, 3: 10}, 5)


@pytest.mark.parametrize("seed", range(4))
def test_hidden_rows_equal_suppress_tree_cell_by_cell(seed: int) -> None:
    """Many cells at once, as a run decides them: each as suppress_tree alone would."""
    rng = random.Random(seed)
    for _ in range(20):
        parents = _tree(rng)
        k = rng.randint(3, 10)
        cells, groups, counts, expected = [], [], [], []
        for cell in rng.sample(range(1000), 30):
            totals = _totals(rng, parents, k)
            if rng.random() < 0.1:
                totals[999] = rng.randint(0, 9)  # a group no longer in the tree
            hidden = _by_the_rules(parents, totals, k)
            for group, total in rng.sample(sorted(totals.items()), len(totals)):
                cells.append(cell)
                groups.append(group)
                counts.append(total)
                expected.append(group in hidden)
        decided = hidden_rows(
            parents, cells=np.array(cells), groups=np.array(groups), n=np.array(counts), k=k
        )
        assert decided.tolist() == expected


def test_hidden_rows_with_a_cycle_in_the_tree_decide_each_cell_by_the_rules() -> None:
    parents: dict[int, int | None] = {1: None, 2: 1, 3: 1, 4: 5, 5: 4}
    decided = hidden_rows(
        parents,
        cells=np.array([7, 7, 7, 8, 8]),
        groups=np.array([1, 2, 3, 1, 2]),
        n=np.array([14, 10, 4, 10, 10]),
        k=5,
    )
    assert decided.tolist() == [False, True, True, False, False]
    with pytest.raises(ValueError, match="cycle"):
        hidden_rows(
            parents, cells=np.array([7, 7]), groups=np.array([4, 5]), n=np.array([9, 9]), k=5
        )
