"""One hiding pattern per cycle × group, and the honest state of every hidden figure.

Whether a group's figures of a cycle may be shown is decided once, from the number of people
in its subtree who answered, over the cycle's whole team tree (its snapshot,
pulse.reporting.trees) at the cycle's threshold (pulse.confidentiality.suppress_tree):
primary hiding below the threshold k, complementary hiding wherever subtracting visible groups
would single out fewer than k people. Every measure drawn from those respondents follows that
one decision (theme scores, items, anchors, distributions, favourable shares, change flags,
comments and the exact participation counts), so the visible n of one measure can never give
away the hidden n of another.

Comments follow the same pattern and, on top of it, the comments threshold: a group's
comments are shown only where at least that many of its people answered, with complementary
hiding of its own, since a department's comments minus its visible teams' comments would be
exactly a hidden team's comments.

Open cycles are sealed: nothing but a coarse participation rate is shown until they close.

The decision lives in participation's `hidden` flag, written by the aggregation run under a
suppression stamp (pulse.reporting.stamps); a cycle without a valid stamp is decided here on
the read from every group's stored count, exactly as the stamp would have been.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pulse.reporting.context import ReportContext
from pulse.reporting.fast import group_rows
from pulse.reporting.models import Participation
from pulse.reporting.suppression import hidden_by_cell
from pulse.surveys.models import Cycle

FEW: Final = "few"
COMPLEMENT: Final = "complement"
OPEN: Final = "open"
TOO_SMALL: Final = "too_small"
NO_SURVEY: Final = "no_survey"

# While a cycle is open its participation rate is shown only in steps this wide, rounded down,
# never above the last step below 100 % ("at least 90%"), and only for groups of at least
# OPEN_RATE_MIN_INVITED: then every step spans at least two possible counts, so no rate pins
# down how many answered (with fewer invited, a step of 10 % is often one person), and a
# difference of two rates is wider still. The disclosure audit checks this.
OPEN_RATE_STEP: Final = 10
OPEN_RATE_MIN_INVITED: Final = 20


def state_text(state: str, *, k: int, parent: str | None = None) -> str:
    """The words every surface (dashboard, CSV, export) shows for a hidden figure."""
    if state == FEW:
        return f"fewer than {k} responses"
    if state == COMPLEMENT:
        return "hidden so that a smaller group stays anonymous"
    if state == OPEN:
        return "results when the cycle closes"
    if state == TOO_SMALL:
        towards = parent if parent is not None else "the organisation"
        return f"too small to report on its own; its answers count towards {towards}"
    if state == NO_SURVEY:
        return "no survey"
    raise ValueError(f"unknown state {state!r}")


def coarse_rate(responded: int, invited: int) -> int:
    """An open cycle's participation rate in whole steps of OPEN_RATE_STEP percent, rounded
    down and at most 100 − OPEN_RATE_STEP (so "everyone" reads as the step below it)."""
    if invited <= 0:
        raise ValueError("a rate needs at least one invitation")
    step = OPEN_RATE_STEP
    return min(math.floor(100 * responded / invited / step) * step, 100 - step)


def open_rate_shown(invited: int) -> bool:
    """Whether a group this size shows a coarse rate while its cycle is open."""
    return invited >= OPEN_RATE_MIN_INVITED


@dataclass(frozen=True)
class _Cycle:
    closed: bool
    k: int
    hidden: frozenset[int]
    respondents: dict[int, int]
    invited: dict[int, int]
    # Groups whose comments are hidden (None: decided only when comments are asked for).
    comments_hidden: frozenset[int] | None = None


@dataclass(frozen=True)
class Pattern:
    """The hiding decision of some cycles for some groups, read once per report."""

    cycles: dict[int, _Cycle]

    def k(self, cycle_id: int) -> int:
        """The scores threshold the cycle is reported at."""
        return self.cycles[cycle_id].k

    def text(self, state: str, cycle_id: int, parent: str | None = None) -> str:
        """state_text at the cycle's threshold."""
        found = self.cycles.get(cycle_id)
        return state_text(state, k=found.k if found else 5, parent=parent)

    def comments_hidden(self, team_id: int, cycle_id: int) -> bool:
        """Whether the group's comments of the cycle are hidden."""
        found = self.cycles.get(cycle_id)
        if found is None or found.comments_hidden is None or self.hidden(team_id, cycle_id):
            return True
        return team_id in found.comments_hidden

    def respondents(self, team_id: int, cycle_id: int) -> int:
        found = self.cycles.get(cycle_id)
        return 0 if found is None else found.respondents.get(team_id, 0)

    def hidden(self, team_id: int, cycle_id: int) -> bool:
        """Whether the group's figures of the cycle are hidden (an open cycle hides them all)."""
        return self.state(team_id, cycle_id) is not None

    def state(self, team_id: int, cycle_id: int) -> str | None:
        """None where the group's figures may be shown, else why they are not."""
        found = self.cycles.get(cycle_id)
        if found is None:
            return NO_SURVEY
        if not found.closed:
            return OPEN
        invited = found.invited.get(team_id, 0)
        if invited == 0 and team_id not in found.respondents:
            return NO_SURVEY
        if team_id not in found.hidden:
            return None
        if 0 < invited < found.k:
            return TOO_SMALL
        if found.respondents.get(team_id, 0) < found.k:
            return FEW
        return COMPLEMENT


# Built once, run on every report (pulse.reporting.fast, "Statements built once").
_STATUS = select(Cycle.id, Cycle.status).where(Cycle.id.in_(bindparam("cycles", expanding=True)))


def load_pattern(
    session: Session,
    *,
    context: ReportContext,
    cycle_ids: Collection[int],
    team_ids: Collection[int] | None = None,
    comments: bool = False,
) -> Pattern:
    """The pattern of these cycles, for these groups (None: every group), and with
    `comments` that of their comments too.

    A stamped cycle's decision is read from participation's flags for the groups asked about;
    any other cycle needs every group's count, and is decided here over its whole tree.
    """
    cycles = sorted(set(cycle_ids))
    if not cycles:
        return Pattern({})
    ks = context.ks(session, cycles)
    status = {cycle_id: state for cycle_id, state in session.execute(_STATUS, {"cycles": cycles})}
    stamped = context.stamped(session, cycles)
    columns = (
        Participation.team_id,
        Participation.cycle_id,
        Participation.invited,
        Participation.responded,
        Participation.hidden,
    )
    rows: list[Any] = []
    if stamped and team_ids is not None:
        rows.extend(
            group_rows(
                session,
                "participation",
                [column.key for column in columns],
                cycle_ids=stamped,
                team_ids=team_ids,
            )
        )
    elif stamped:
        rows.extend(session.execute(select(*columns).where(Participation.cycle_id.in_(stamped))))
    unstamped = [c for c in cycles if c not in stamped]
    decided: dict[int, frozenset[int]] = {}
    everyone: list[Any] = []
    if unstamped:
        everyone = list(
            session.execute(select(*columns).where(Participation.cycle_id.in_(unstamped)))
        )
        rows.extend(everyone)
        decided = hidden_by_cell(
            lambda c: context.trees.of(c).parents,
            ((c, g, responded) for g, c, _, responded, _ in everyone),
            ks.__getitem__,
        )
    hidden: dict[int, set[int]] = {c: set() for c in cycles}
    respondents: dict[int, dict[int, int]] = {c: {} for c in cycles}
    invited: dict[int, dict[int, int]] = {c: {} for c in cycles}
    for team, cycle, invited_n, responded, flag in rows:
        respondents[cycle][team] = responded
        invited[cycle][team] = invited_n
        if (flag if cycle in stamped else team in decided.get(cycle, ())) or responded < ks[cycle]:
            hidden[cycle].add(team)
    comment_hidden = (
        _comments_hidden(session, context, cycles, hidden, everyone, stamped) if comments else {}
    )
    return Pattern(
        {
            c: _Cycle(
                closed=status[c] == "closed",
                k=ks[c],
                hidden=frozenset(hidden[c]),
                respondents=respondents[c],
                invited=invited[c],
                comments_hidden=comment_hidden.get(c),
            )
            for c in cycles
            if c in status
        }
    )


def _comments_hidden(
    session: Session,
    context: ReportContext,
    cycles: list[int],
    hidden: dict[int, set[int]],
    everyone: list[Any],
    stamped: set[int],
) -> dict[int, frozenset[int]]:
    """Each cycle's groups whose comments are hidden: over its whole tree, at the comments
    threshold, starting from the groups the pattern hides (every group's pattern is needed,
    not only those a report asks about)."""
    counts = list(everyone)
    if stamped:
        counts.extend(
            session.execute(
                select(
                    Participation.team_id,
                    Participation.cycle_id,
                    Participation.invited,
                    Participation.responded,
                    Participation.hidden,
                ).where(Participation.cycle_id.in_(sorted(stamped)))
            )
        )
    pattern: dict[int, set[int]] = {c: set() for c in cycles}
    ks = context.ks(session, cycles)
    for team, cycle, _, responded, flag in counts:
        if cycle in stamped:
            if flag:
                pattern[cycle].add(team)
        elif team in hidden[cycle] or responded < ks[cycle]:
            pattern[cycle].add(team)
    # Groups hidden by the pattern for the report's own rows are hidden here too.
    for cycle in cycles:
        pattern[cycle] |= hidden[cycle]
    k_comments = context.ks(session, cycles, kind="comments")
    return hidden_by_cell(
        lambda c: context.trees.of(c).parents,
        ((c, g, responded) for g, c, _, responded, _ in counts),
        k_comments.__getitem__,
        seed=lambda c: frozenset(pattern[c]),
    )


def measure_hidden(
    session: Session,
    *,
    context: ReportContext,
    pattern: Pattern,
    model: Any,
    cell: Any,
) -> Callable[[int, int, Any, bool], bool]:
    """Whether a group's figure of one measure (a theme, an item) is hidden, given its stored
    flag: hidden by the pattern, or because fewer than k of a visible group answered that
    measure, with complementary hiding for it over the whole tree.

    A stamped cycle's rows carry the decision in their flags; any other cycle is decided here
    from every group's count of the measure, starting from the cycle's pattern.
    """
    cycles = sorted(pattern.cycles)
    stamped = context.stamped(session, cycles)
    unstamped = [c for c in cycles if c not in stamped]
    decided: dict[Any, frozenset[int]] = {}
    if unstamped:
        found = session.execute(
            select(model.team_id, model.cycle_id, model.n, cell).where(
                model.cycle_id.in_(unstamped)
            )
        )
        decided = hidden_by_cell(
            lambda key: context.trees.of(key[0]).parents,
            (((c, value), g, n) for g, c, n, value in found),
            lambda key: pattern.k(key[0]),
            seed=lambda key: pattern.cycles[key[0]].hidden,
        )

    def hidden(team_id: int, cycle_id: int, value: Any, stored: bool) -> bool:
        if pattern.hidden(team_id, cycle_id):
            return True
        if cycle_id in stamped:
            return bool(stored)
        return team_id in decided.get((cycle_id, value), frozenset())

    return hidden


def measure_state(n: int | None, k: int) -> str:
    """Why a measure of a group the pattern shows is hidden all the same."""
    return FEW if n is None or n < k else COMPLEMENT
