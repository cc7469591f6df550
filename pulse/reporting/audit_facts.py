"""The terms of the disclosure audit (measures, figures) and its latest state from storage.

The audit judges what the reports show against what is stored: each group's count of every
measure (a subtree's, as the aggregates keep it) and each team's own share of it (its count
minus its children's), on the tree each cycle is reported on. Reading these straight from
the tables keeps the audit independent of the hiding logic it checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment
from pulse.reporting.context import ReportContext
from pulse.reporting.models import ItemAggregate, Participation, ThemeAggregate
from pulse.surveys.models import Cycle, Item


@dataclass(frozen=True)
class Measure:
    """What a figure counts: a theme's scores, an item's answers (anchors are items), the
    participation counts (who answered, who was invited) or the comments. Every figure of a
    measure (n, sums, distribution counts) is linear in the same per-team unknowns."""

    kind: str
    key: str | int | None = None

    def order(self) -> tuple[str, str]:
        return (self.kind, "" if self.key is None else f"{self.key!s:>12}")


RESPONDED = Measure("responded")
INVITED = Measure("invited")
COMMENTS = Measure("comments")
# Where a count comes from when only the rate beside the number invited gives it away.
FROM_RATE = "participation rate and number invited"


@dataclass(frozen=True)
class Figure:
    """An exact published figure: it counts the own respondents of the teams in `plus` minus
    those in `minus` (a subtree, or the organisation without one team's subtree)."""

    cycle_id: int
    measure: Measure
    plus: frozenset[int]
    minus: frozenset[int] = frozenset()


@dataclass(frozen=True)
class CycleFacts:
    opened: date
    status: str
    k: int
    # Each group's subtree in the cycle's tree, and its name there.
    subtrees: dict[int, frozenset[int]]
    names: dict[int, str]


@dataclass
class StateFacts:
    """What the latest state is, read from storage: the cycles and their trees, each group's
    stored count per measure (its subtree's) and its own respondents (its subtree minus its
    children's subtrees), and the words of each item."""

    cycles: dict[int, CycleFacts]
    totals: dict[tuple[int, Measure], dict[int, int]]
    own: dict[tuple[int, Measure], dict[int, int]]
    items: dict[int, str]

    def unknowns(self, cycle_id: int, measure: Measure) -> set[int]:
        """The teams whose own count in this measure nobody can know from the tree: those
        with people of their own invited (or, should storage disagree, with a count)."""
        invited = self.own.get((cycle_id, INVITED), {})
        counted = self.own.get((cycle_id, measure), {})
        return {t for t, n in invited.items() if n != 0} | {t for t, n in counted.items() if n}


def subtrees_of(parents: dict[int, int | None]) -> dict[int, frozenset[int]]:
    """Each group's subtree (itself included), in one walk down from the roots."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for team, parent in parents.items():
        children[parent].append(team)
    found: dict[int, frozenset[int]] = {}

    def walk(team: int, path: frozenset[int]) -> frozenset[int]:
        below = {team}
        for child in children.get(team, []):
            if child not in path:  # a loop in a broken tree must not recurse forever
                below |= walk(child, path | {child})
        found[team] = frozenset(below)
        return found[team]

    for team, parent in parents.items():
        if parent is None or parent not in parents:
            walk(team, frozenset({team}))
    for team in parents:
        found.setdefault(team, frozenset({team}))
    return found


def _own(totals: dict[int, int], parents: dict[int, int | None]) -> dict[int, int]:
    """Each group's own count from subtree counts: its total minus its children's totals."""
    own = dict(totals)
    for team, total in totals.items():
        parent = parents.get(team)
        if parent is not None and parent in own:
            own[parent] -= total
    return own


def read_facts(
    session: Session,
    context: ReportContext,
    subtrees: Callable[[int], dict[int, frozenset[int]]],
) -> StateFacts:
    """The cycles, their trees and every stored count of the state, straight from storage."""
    cycles: dict[int, CycleFacts] = {}
    for cycle_id, opened, status in session.execute(select(Cycle.id, Cycle.opens_at, Cycle.status)):
        names = context.names_in(session, cycle_id)
        cycles[cycle_id] = CycleFacts(
            opened=opened.date(),
            status=status,
            k=context.k_of(session, cycle_id),
            subtrees=subtrees(cycle_id),
            names={team: name for team, (name, _) in names.items()},
        )
    totals: dict[tuple[int, Measure], dict[int, int]] = defaultdict(dict)
    stored: Iterable[tuple[int, int, Measure, int]] = [
        *(
            (c, t, Measure("theme", theme), n)
            for t, c, theme, n in session.execute(
                select(
                    ThemeAggregate.team_id,
                    ThemeAggregate.cycle_id,
                    ThemeAggregate.theme,
                    ThemeAggregate.n,
                )
            )
        ),
        *(
            (c, t, Measure("item", item), n)
            for t, c, item, n in session.execute(
                select(
                    ItemAggregate.team_id,
                    ItemAggregate.cycle_id,
                    ItemAggregate.item_id,
                    ItemAggregate.n,
                )
            )
        ),
    ]
    for c, t, measure, n in stored:
        totals[(c, measure)][t] = n
    for t, c, invited, responded in session.execute(
        select(
            Participation.team_id,
            Participation.cycle_id,
            Participation.invited,
            Participation.responded,
        )
    ):
        totals[(c, INVITED)][t] = invited
        totals[(c, RESPONDED)][t] = responded
    own: dict[tuple[int, Measure], dict[int, int]] = {}
    for (c, measure), counts in totals.items():
        own[(c, measure)] = _own(counts, context.tree(session, c).parents)
    # Comments are filed under the answering team itself: own counts, summed up the tree.
    comments: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for c, t, body in session.execute(select(Comment.cycle_id, Comment.team_id, Comment.body)):
        if body.strip():
            comments[c][t] += 1
    for c, counts in comments.items():
        own[(c, COMMENTS)] = dict(counts)
        totals[(c, COMMENTS)] = {
            g: total
            for g, members in (subtrees(c) if c in cycles else {}).items()
            if (total := sum(counts.get(t, 0) for t in members)) > 0
        }
    items = {
        item_id: f"{code} (version {version})" if version > 1 else code
        for item_id, code, version in session.execute(select(Item.id, Item.code, Item.version))
    }
    return StateFacts(cycles=cycles, totals=dict(totals), own=own, items=items)
