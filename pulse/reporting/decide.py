"""What one aggregation run holds, and the hiding it decides from it.

A run computes the figures of its cycles in full (scores, items, participation), each cycle
rolled up on its own tree (pulse.reporting.trees) at its own threshold
(pulse.reporting.thresholds). When it writes whole cycles it also decides their hiding from
those very figures, so the flags it stores need no second read: the cycle's one pattern from
each group's respondents, then each measure's own complementary hiding seeded by it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from pulse.confidentiality import MAX_THRESHOLD
from pulse.instrument import THEMES
from pulse.reporting import compute
from pulse.reporting.fast import fetch_answers, run_sql
from pulse.reporting.suppression import hidden_rows
from pulse.reporting.thresholds import cycle_thresholds
from pulse.reporting.trees import CycleTrees


@dataclass(frozen=True)
class Computed:
    tree: CycleTrees
    # Each cycle's threshold for scores: locked when it opened, raised by later settings.
    ks: dict[int, int]
    asked: dict[tuple[int, str], list[int]]
    themes: compute.ThemeStats
    items: compute.ItemStats
    participation: compute.ParticipationStats


def compute_cycles(session: Session, cycle_ids: Collection[int] | None, k: int) -> Computed:
    tree = CycleTrees.load(session, cycle_ids)
    if cycle_ids is None:
        cycle_ids = [cycle_id for (cycle_id,) in run_sql(session, "SELECT id FROM cycles")]
    ks = cycle_thresholds(session, cycle_ids, current=k)
    asked = compute.asked_items(session, cycle_ids=cycle_ids)
    # One pass over the answers feeds both the person scores and the item distributions.
    answers = fetch_answers(session, cycle_ids=cycle_ids)
    scores = compute.scores_from_answers(answers, compute.ItemTable.load(session), asked)
    items = compute.items_from_answers(answers, tree)
    del answers
    return Computed(
        tree=tree,
        ks=ks,
        asked=asked,
        themes=compute.theme_stats(scores, tree),
        items=items,
        participation=compute.participation_stats(session, cycle_ids=cycle_ids, tree=tree),
    )


@dataclass(frozen=True)
class Hidden:
    """Suppression decided from the computed figures, one flag per row of each table."""

    themes: Any
    items: Any
    participation: Any


def k_rows(data: Computed, cycles: Any) -> Any:
    """Each row's threshold: that of its cycle."""
    if len(cycles) == 0:
        return np.empty(0, dtype=np.int64)
    # A cycle without a known threshold is held to the strictest one.
    known = np.full(int(cycles.max()) + 1, MAX_THRESHOLD, dtype=np.int64)
    for cycle_id, k in data.ks.items():
        if cycle_id < len(known):
            known[cycle_id] = k
    return known[cycles]


def _by_frame(data: Computed, cycles: Any, decide: Callable[[Any, Any, int], Any]) -> Any:
    """Run `decide(rows, parents, k)` for the rows of each group of cycles sharing a tree and
    a threshold, and gather its per-row answers in row order."""
    hidden = np.zeros(len(cycles), dtype=np.bool_)
    for tree, k, part in data.tree.partition(np.unique(cycles).tolist(), data.ks):
        rows = np.flatnonzero(np.isin(cycles, part))
        hidden[rows] = decide(rows, tree.parents, k)
    return hidden


def decide_hidden(data: Computed) -> Hidden:
    """The cycles' one hiding pattern, from this run's figures: they are the whole of its cycles.

    Decided once per cycle from each group's respondents (pulse.reporting.pattern) and
    carried to every theme and item row of the same group and cycle; a measure that fewer
    than k of a visible group answered is hidden on top, with complementary hiding for it.
    """
    t, s, p = data.themes, data.items, data.participation
    participation = _by_frame(
        data,
        p.cycle,
        lambda rows, parents, k: hidden_rows(
            parents, cells=p.cycle[rows], groups=p.group[rows], n=p.responded[rows], k=k
        ),
    )
    items = int(s.item.max()) + 1 if len(s) else 1
    theme_seed = _in_pattern(t.cycle, t.group, p, participation)
    item_seed = _in_pattern(s.cycle, s.group, p, participation)
    return Hidden(
        themes=_by_frame(
            data,
            t.cycle,
            lambda rows, parents, k: hidden_rows(
                parents,
                cells=t.cycle[rows] * len(THEMES) + t.theme[rows],
                groups=t.group[rows],
                n=t.n[rows],
                k=k,
                seed=theme_seed[rows],
            ),
        ),
        items=_by_frame(
            data,
            s.cycle,
            lambda rows, parents, k: hidden_rows(
                parents,
                cells=s.cycle[rows] * items + s.item[rows],
                groups=s.group[rows],
                n=s.n[rows],
                k=k,
                seed=item_seed[rows],
            ),
        ),
        participation=participation,
    )


def _in_pattern(cycles: Any, groups: Any, p: Any, hidden: Any) -> Any:
    """Whether each (cycle, group) row is hidden by the pattern; a group nobody was invited to
    in a cycle has no respondents there, so its rows are hidden too."""
    width = int(max(groups.max(initial=0), p.group.max(initial=0))) + 1
    shown = p.cycle[~hidden] * width + p.group[~hidden]
    return ~np.isin(cycles * width + groups, shown)
