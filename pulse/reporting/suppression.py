"""Complementary suppression over the real team tree, per cycle and theme (or item)."""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable, Iterable, Mapping
from functools import lru_cache
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from pulse.confidentiality import GroupCount, suppress_tree, validate_threshold

Cell = TypeVar("Cell", bound=Hashable)


def hidden_groups(parents: Mapping[int, int | None], totals: Mapping[int, int], k: int) -> set[int]:
    """Groups to hide given each group's subtree total (a group missing from totals has 0)."""
    return set(_hidden(_tree_key(parents), tuple(sorted(totals.items())), k))


Tree = tuple[tuple[int, int | None], ...]
_trees: dict[Tree, Tree] = {}


def _tree_key(parents: Mapping[int, int | None]) -> Tree:
    """The tree as a hashable key, one shared object per distinct tree to keep the cache small."""
    key = tuple(sorted(parents.items()))
    if key not in _trees:
        # Few distinct trees are in use at once (one per snapshot read by a report).
        if len(_trees) >= 16:
            _trees.clear()
        _trees[key] = key
    return _trees[key]


# A pure function of the tree, the totals and k: reports ask for the same cells again and again
# (every theme of a cycle usually has the same counts), and the whole inputs are the key, so a
# change of tree, figures or threshold can never be answered from an old result.
@lru_cache(maxsize=1024)
def _hidden(
    parents_key: Tree,
    totals_key: tuple[tuple[int, int], ...],
    k: int,
    seed: frozenset[int] = frozenset(),
) -> frozenset[int]:
    """Groups to hide given each group's subtree total (a group missing from totals has 0).

    Groups with no respondents are hidden by the threshold and add nothing to any sum, so only
    groups with respondents enter suppress_tree; a group's direct respondents are its total
    minus its children's totals. `seed` names groups hidden whatever their counts (the
    cycle's hiding pattern); complementary hiding protects them as well.
    """
    parents = dict(parents_key)
    totals = dict(totals_key)
    present = {group for group, total in totals.items() if total > 0}
    child_sum: dict[int, int] = {}
    for group in present:
        parent = parents.get(group)
        if parent in present:
            child_sum[parent] = child_sum.get(parent, 0) + totals[group]
    own = {group: totals[group] - child_sum.get(group, 0) for group in present}
    absent = frozenset(group for group in totals if group not in present)
    seeded = seed & present
    if not seeded and _nothing_to_hide(parents, totals, own, k):
        return absent
    counts = [
        GroupCount(
            id=group,
            parent_id=parents.get(group) if parents.get(group) in present else None,
            # Aggregates of a moved team can disagree with the tree until a rebuild: never
            # let that make a negative count.
            n=max(own[group], 0),
        )
        for group in sorted(present)
    ]
    found = suppress_tree(counts, k, also=seeded)
    hidden = {int(group) for group in found}  # type: ignore[call-overload]
    return frozenset(hidden) | absent | seed


def _nothing_to_hide(
    parents: Mapping[int, int | None], totals: Mapping[int, int], own: Mapping[int, int], k: int
) -> bool:
    """Whether suppress_tree would hide none of these groups, known without running it.

    It hides nothing exactly when no group's total is below k and no group's own respondents
    (its total minus its children's, none of them hidden) number 1 to k − 1: every residual
    is then 0 or at least k. Most cells of a healthy organisation are so, and deciding them
    here spares suppress_tree's walks. Anything else, including counts that disagree with
    the tree or a tree with a cycle (which suppress_tree refuses), goes to suppress_tree.
    """
    validate_threshold(k)
    if any(totals[group] < k for group in own) or any(0 < n < k or n < 0 for n in own.values()):
        return False
    # Every group must lead up to a root through groups with respondents, as in a tree.
    return _leads_to_roots(parents, own, through=own)


def hidden_in_cells(
    parents: Mapping[int, int | None],
    cells: Iterable[tuple[tuple[int, int], ...]],
    k: int,
    seeds: Iterable[frozenset[int]] | None = None,
) -> list[frozenset[int]]:
    """The groups to hide in each cell, given as its (group, n) pairs sorted by group, each once,
    and with each cell's seed (groups hidden from the start), if any."""
    tree = _tree_key(parents)
    cells = list(cells)
    seeded = list(seeds) if seeds is not None else [frozenset()] * len(cells)
    return [_hidden(tree, totals, k, seed) for totals, seed in zip(cells, seeded, strict=True)]


def hidden_by_cell(
    parents: Mapping[int, int | None] | Callable[[Cell], Mapping[int, int | None]],
    figures: Iterable[tuple[Cell, int, int]],
    k: int | Callable[[Cell], int],
    seed: Callable[[Cell], frozenset[int]] | None = None,
) -> dict[Cell, frozenset[int]]:
    """The groups to hide in each cell, where a cell is e.g. (cycle, theme) and figures are
    (cell, group, n) triples; each cell is suppressed over the whole tree on its own, starting
    from the groups `seed` names for it (the cycle's hiding pattern). The tree and k may
    differ by cell (each cycle's own): then give functions of the cell."""
    by_cell: dict[Cell, dict[int, int]] = {}
    for cell, group, n in figures:
        by_cell.setdefault(cell, {})[group] = n
    trees: dict[int, Tree] = {}

    def tree_of(cell: Cell) -> Tree:
        found = parents(cell) if callable(parents) else parents
        # Cells of one cycle share one mapping: digest each distinct object once.
        if id(found) not in trees:
            trees[id(found)] = _tree_key(found)
        return trees[id(found)]

    return {
        cell: _hidden(
            tree_of(cell),
            tuple(sorted(totals.items())),
            k(cell) if callable(k) else k,
            frozenset() if seed is None else seed(cell),
        )
        for cell, totals in by_cell.items()
    }


def hidden_cells(
    parents: Mapping[int, int | None], figures: Iterable[tuple[Cell, int, int]], k: int
) -> set[tuple[Cell, int]]:
    """(cell, group) pairs to hide, where a cell is e.g. (cycle, theme) and figures are
    (cell, group, n) triples; each cell is suppressed over the whole tree on its own."""
    return {
        (cell, group)
        for cell, groups in hidden_by_cell(parents, figures, k).items()
        for group in groups
    }


IntArray = npt.NDArray[np.int64]


def hidden_rows(
    parents: Mapping[int, int | None],
    *,
    cells: IntArray,
    groups: IntArray,
    n: IntArray,
    k: int,
    seed: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Whether each row must be hidden, given every row of its cells: one entry per row.

    Rows are (cell, group, n) as three aligned arrays, a cell being any integer naming e.g. a
    cycle and theme, each group at most once per cell; the decision is hidden_by_cell's, made
    on whole columns so a run that writes every row of its cycles can store the flags it
    computed. Cells with nothing to hide (see _nothing_to_hide) are told apart column-wise;
    only the others go through _hidden one by one. `seed`, one entry per row, marks the
    groups hidden from the start in their cell (the cycle's hiding pattern).
    """
    validate_threshold(k)
    hidden = np.zeros(len(cells), dtype=np.bool_)
    if len(cells) == 0:
        return hidden
    order = np.lexsort((groups, cells))
    cell, group, count = cells[order], groups[order], n[order]
    starts = np.flatnonzero(np.diff(cell)) + 1
    rank = np.zeros(len(cell), dtype=np.int64)
    rank[starts] = 1
    rank = np.cumsum(rank)
    doubtful = _doubtful_cells(parents, rank=rank, group=group, count=count, k=k)
    seeded = np.zeros(len(cell), dtype=np.bool_) if seed is None else seed[order]
    doubtful |= np.bincount(rank[seeded], minlength=len(doubtful)) > 0
    # A cell with nothing to hide hides only its groups with no respondents.
    hidden[order] = count <= 0
    ends = np.append(starts, len(order))
    firsts = np.insert(starts, 0, 0)
    bounds = [(firsts[at], ends[at]) for at in np.flatnonzero(doubtful).tolist()]
    cells_in_doubt = [
        tuple(zip(group[start:end].tolist(), count[start:end].tolist(), strict=True))
        for start, end in bounds
    ]
    seeds = [frozenset(group[start:end][seeded[start:end]].tolist()) for start, end in bounds]
    decided = hidden_in_cells(parents, cells_in_doubt, k, seeds)
    for (start, end), totals, found in zip(bounds, cells_in_doubt, decided, strict=True):
        hidden[order[start:end]] = [g in found for g, _ in totals]
    return hidden


def _doubtful_cells(
    parents: Mapping[int, int | None], *, rank: IntArray, group: IntArray, count: IntArray, k: int
) -> npt.NDArray[np.bool_]:
    """Per cell (rows sorted by cell rank, then group): whether it may have something to hide.

    False exactly where _nothing_to_hide holds for the cell's groups with respondents: every
    total at least k, every group's own respondents (total minus its children's with
    respondents) 0 or at least k, and the tree free of cycles.
    """
    cells = int(rank[-1]) + 1
    if not _acyclic(parents):
        return np.ones(cells, dtype=np.bool_)
    known = np.array(sorted(parents), dtype=np.int64)
    above = np.array([-1 if parents[g] is None else parents[g] for g in known.tolist()])
    above = np.append(above, -1).astype(np.int64)
    at = np.searchsorted(known, group)
    at[(at >= len(known)) | (known[np.minimum(at, len(known) - 1)] != group)] = len(known)
    parent = above[at]
    # Each row's parent row within its cell, where the parent has one with respondents.
    width = int(max(group.max(), parent.max())) + 2
    key = rank * width + group + 1
    wanted = rank * width + parent + 1
    row = np.minimum(np.searchsorted(key, wanted), len(key) - 1)
    present = count > 0
    counted = (parent >= 0) & (key[row] == wanted) & present & present[row]
    children = np.bincount(row[counted], weights=count[counted], minlength=len(count))
    own = count - children.astype(np.int64)
    fine = ~present | ((count >= k) & ((own == 0) | (own >= k)))
    return np.bincount(rank[~fine], minlength=cells) > 0


def _acyclic(parents: Mapping[int, int | None]) -> bool:
    """Whether following parents from every group ends at a root."""
    return _leads_to_roots(parents, parents)


def _leads_to_roots(
    parents: Mapping[int, int | None],
    groups: Iterable[int],
    *,
    through: Container[int] | None = None,
) -> bool:
    """Whether following parents from each group stops without going round a cycle.

    With `through`, the walk also stops at the first group outside it.
    """
    rooted: set[int] = set()
    for group in groups:
        path: list[int] = []
        node: int | None = group
        while node is not None and (through is None or node in through) and node not in rooted:
            if node in path:
                return False
            path.append(node)
            node = parents.get(node)
        rooted.update(path)
    return True
