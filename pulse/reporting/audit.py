"""The disclosure audit: can anything a role obtains pin down a figure the product hides?

The product promises that nobody can work out what a person answered. Hiding each small
group is not enough to keep that promise: a department's figure minus its visible teams'
figures is the figure of whatever is left, so the proof has to look at everything a role can
obtain at once, and at every state it saw (after answers, moves, closes), not one screen.

Every figure of a cycle is linear in the same unknowns: per measure (a theme's scores, an
item's answers, who answered, who was invited, the comments), each team's OWN respondents in
that cycle's snapshot tree (its subtree minus its children). A group's figure (its n, its
sums, each count of its distribution) is then the indicator vector of its subtree over those
unknowns, and "Rest of organisation" is the organisation's vector minus the team's. A hidden
quantity is determined exactly when its vector lies in the row space of the published
vectors of its cycle and measure: rank([P; v]) == rank(P). Checking the indicator vectors
checks n, every sum and every distribution count at once, since they share the vectors.

Which teams are unknowns matters. A team nobody of its own was invited from (a department
without direct members, a team created after the cycle) is known to count zero: the tree says
so, and "department minus its visible teams" is then exactly the hidden team. A team whose
invited people did not answer is an unknown like any other, since the reports make "none" and
"few" look the same.

Publications of every gathered state count against the quantities hidden in the latest one,
as if nothing had changed between them: an open cycle's figure read just before it closes is
the closed cycle's figure, and what a cycle showed before a threshold was raised stays known.

What the audit does not model: figures that are not linear (change flags, rounding of means
beside a shown n), and links between measures (a theme's n beside the number who answered).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from pulse.instrument import THEME_LABELS
from pulse.reporting.audit_facts import (
    COMMENTS,
    INVITED,
    RESPONDED,
    Figure,
    Measure,
    StateFacts,
)
from pulse.reporting.audit_gather import RoleView, UnknownPerson, audit_roles, gather_state
from pulse.reporting.pattern import state_text

__all__ = ["Audit", "AuditResult", "Determined", "UnknownPerson", "determined"]

Key = TypeVar("Key", bound=Hashable)
Vector = tuple[frozenset[int], frozenset[int]]

# A residual this small is floating-point noise on a vector in the span; one this large is
# plainly outside it. Anything between is settled exactly, in rationals.
_IN_SPAN = 1e-9
_OUTSIDE = 1e-3


def _vector(plus: Iterable[int], minus: Iterable[int], columns: Mapping[int, int]) -> list[int]:
    row = [0] * len(columns)
    for team in plus:
        if team in columns:
            row[columns[team]] += 1
    for team in minus:
        if team in columns:
            row[columns[team]] -= 1
    return row


def _in_span_exact(rows: list[list[int]], target: list[int]) -> bool:
    """Whether target is a rational combination of rows: Gaussian elimination in fractions."""
    basis: list[tuple[int, list[Fraction]]] = []
    for row in [*rows, target]:
        reduced = [Fraction(x) for x in row]
        for pivot, base in basis:
            if reduced[pivot]:
                factor = reduced[pivot] / base[pivot]
                reduced = [a - factor * b for a, b in zip(reduced, base, strict=True)]
        nonzero = next((i for i, x in enumerate(reduced) if x), None)
        if row is target:
            return nonzero is None
        if nonzero is not None:
            basis.append((nonzero, reduced))
    return False  # pragma: no cover - the loop always returns on the target


def determined(
    published: Iterable[Vector],
    hidden: Mapping[Key, Collection[int]],
    unknowns: Collection[int],
) -> set[Key]:
    """The hidden quantities whose vectors lie in the row space of the published ones.

    `published` holds (plus, minus) team sets, `hidden` each hidden quantity's team set (a
    subtree), `unknowns` the teams with own respondents; other teams count zero in every
    figure and are left out. Float SVD finds the row space once; a borderline residual is
    settled in exact arithmetic, so rounding can neither hide nor invent a leak.
    """
    columns = {team: i for i, team in enumerate(sorted(unknowns))}
    rows = sorted(
        {tuple(row) for plus, minus in published if any(row := _vector(plus, minus, columns))}
    )
    if not rows or not columns:
        return set()
    matrix: npt.NDArray[np.float64] = np.array(rows, dtype=np.float64)
    _, singular, right = np.linalg.svd(matrix, full_matrices=False)
    tolerance = singular.max() * max(matrix.shape) * np.finfo(np.float64).eps
    basis = right[singular > tolerance]
    found: set[Key] = set()
    for key, members in hidden.items():
        target = _vector(members, (), columns)
        if not any(target):
            continue
        point = np.array(target, dtype=np.float64)
        residual = float(np.linalg.norm(point - basis.T @ (basis @ point)))
        if residual < _IN_SPAN or (
            residual < _OUTSIDE and _in_span_exact([list(r) for r in rows], target)
        ):
            found.add(key)
    return found


@dataclass(frozen=True)
class Determined:
    """A hidden quantity some role can work out, in words (never its value)."""

    cycle_id: int
    cycle: str
    measure: Measure
    measure_words: str
    group_id: int
    group: str
    # What the product shows in its place, and who can work it out.
    state: str
    roles: tuple[str, ...]
    # The rows that show this very figure, if one does; empty when it takes arithmetic.
    shown_by: tuple[str, ...]


@dataclass(frozen=True)
class AuditResult:
    roles: int
    states: int
    cycles: int
    exact: int
    inexact: int
    hidden: int
    determined: list[Determined]


def measure_words(measure: Measure, facts: StateFacts) -> str:
    if measure.kind == "theme":
        return f"theme scores: {THEME_LABELS.get(str(measure.key), str(measure.key))}"
    if measure.kind == "item" and isinstance(measure.key, int):
        return f"item answers: {facts.items.get(measure.key, measure.key)}"
    if measure == RESPONDED:
        return "participation: number who answered"
    if measure == INVITED:
        return "participation: number invited"
    if measure == COMMENTS:
        return "comments"
    return f"{measure.kind} {measure.key}"


class Audit:
    """Figures gathered over successive states, judged together.

    Call `gather` after each change worth auditing (answers, moves, closes, a rebuild); each
    call adds what every role can obtain now to what it obtained before. `check` then judges
    the quantities hidden in the latest state against everything ever published to a role.
    """

    def __init__(self, *, role_of: str | None = None) -> None:
        self.role_of = role_of
        self.states = 0
        self._published: dict[str, dict[Figure, set[str]]] = {}
        self._inexact: set[tuple[int, int, int, int | None]] = set()
        self._latest: tuple[RoleView, StateFacts] | None = None

    def gather(self, session: Session, *, threshold: int) -> None:
        """Add what each role obtains from the reports as they stand now."""
        roles = audit_roles(session, role_of=self.role_of)
        views, admin, facts = gather_state(session, threshold=threshold, roles=roles)
        for name, view in views.items():
            figures = self._published.setdefault(name, defaultdict(set))
            for figure, sources in view.figures.items():
                figures[figure] |= sources
            self._inexact |= view.inexact
        self._latest = (admin, facts)
        self.states += 1

    def hidden(self) -> dict[tuple[int, Measure], dict[int, str]]:
        """The latest state's hidden quantities that matter: per cycle and measure, each
        group with at least one respondent whose own rows show the admin no exact figure,
        with the state they show instead."""
        if self._latest is None:
            return {}
        admin, facts = self._latest
        found: dict[tuple[int, Measure], dict[int, str]] = {}
        for (cycle, measure), totals in facts.totals.items():
            if cycle not in facts.cycles:
                continue
            groups = {
                group: admin.states.get((cycle, measure, group), "hidden")
                for group, n in totals.items()
                if n > 0 and (cycle, measure, group) not in admin.shown
            }
            if groups:
                found[(cycle, measure)] = groups
        return found

    def check(self, *, ignoring: Collection[str] = ()) -> AuditResult:
        """Judge the latest hidden quantities against every role's publications.

        `ignoring` leaves out figures obtained only from rows of these kinds (the words of
        Determined.shown_by), to see what else would leak while a known leak is mended.
        """
        if self._latest is None:
            raise RuntimeError("gather at least one state before checking")
        _, facts = self._latest
        hidden = self.hidden()
        by_role: dict[tuple[int, Measure, int], list[str]] = defaultdict(list)
        for role, figures in sorted(self._published.items()):
            cells: dict[tuple[int, Measure], list[Vector]] = defaultdict(list)
            for figure, sources in figures.items():
                if sources - set(ignoring):
                    cells[(figure.cycle_id, figure.measure)].append((figure.plus, figure.minus))
            for (cycle, measure), groups in hidden.items():
                if (cycle, measure) not in cells:
                    continue
                subtrees = facts.cycles[cycle].subtrees
                found = determined(
                    cells[(cycle, measure)],
                    {g: subtrees.get(g, frozenset({g})) for g in groups},
                    facts.unknowns(cycle, measure),
                )
                for group in found:
                    by_role[(cycle, measure, group)].append(role)
        exact = {figure for figures in self._published.values() for figure in figures}
        return AuditResult(
            roles=len(self._published),
            states=self.states,
            cycles=len(facts.cycles),
            exact=len(exact),
            inexact=len(self._inexact),
            hidden=sum(len(groups) for groups in hidden.values()),
            determined=self._described(by_role, hidden, facts),
        )

    def _described(
        self,
        found: Mapping[tuple[int, Measure, int], list[str]],
        hidden: Mapping[tuple[int, Measure], Mapping[int, str]],
        facts: StateFacts,
    ) -> list[Determined]:
        out = []
        for (cycle, measure, group), roles in found.items():
            about = facts.cycles[cycle]
            own = Figure(cycle, measure, about.subtrees.get(group, frozenset({group})))
            shown_by = sorted(
                {s for figures in self._published.values() for s in figures.get(own, ())}
            )
            state = hidden[(cycle, measure)][group]
            words = state_text(state, k=about.k) if state != "hidden" else "not shown"
            out.append(
                Determined(
                    cycle_id=cycle,
                    cycle=f"cycle {cycle} opened {about.opened.isoformat()} ({about.status})",
                    measure=measure,
                    measure_words=measure_words(measure, facts),
                    group_id=group,
                    group=about.names.get(group, f"team {group}"),
                    state=words,
                    roles=tuple(roles),
                    shown_by=tuple(shown_by),
                )
            )
        out.sort(
            key=lambda d: (facts.cycles[d.cycle_id].opened, d.cycle_id, d.measure.order(), d.group)
        )
        return out
