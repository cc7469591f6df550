"""Participation as reports show it: counts only where they reveal no hidden group's count."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from pulse.confidentiality import (
    round_pct,
)
from pulse.reporting.context import ReportContext, report_context
from pulse.reporting.fast import group_rows, marks, run_sql
from pulse.reporting.pattern import (
    COMPLEMENT,
    OPEN,
    TOO_SMALL,
    coarse_rate,
    load_pattern,
    open_rate_shown,
)
from pulse.reporting.rows import (
    ParticipationRow,
)
from pulse.reporting.suppression import hidden_by_cell
from pulse.reporting.themes import opened_dates, report_cycles


def participation_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    cycle_ids: Collection[int] | None = None,
    context: ReportContext | None = None,
) -> list[ParticipationRow]:
    """Invitations and responses per group, only where they reveal no hidden group's count.

    Only where at least the cycle's participation threshold were invited (with complementary
    hiding of the number invited). Of a closed cycle, the exact counts and rate follow the
    cycle's hiding pattern (the number who answered is a hidden group's n); of an open cycle,
    only the rate, rounded down to steps of OPEN_RATE_STEP percent and only for groups of at
    least OPEN_RATE_MIN_INVITED, so no rate pins down how many answered.
    """
    context = report_context(session, threshold, context)
    if not team_ids:
        return []
    cycles = report_cycles(session, team_ids=team_ids, cycle_ids=cycle_ids, since=None)
    pattern = load_pattern(session, context=context, cycle_ids=cycles, team_ids=team_ids)
    # The number invited is hidden by the same rules on its own counts: no subtraction of
    # visible groups' invitations may give away a group where fewer than k were invited.
    # A stamped cycle's decision is stored (pulse.reporting.stamps): read for these groups
    # only. Any other cycle needs every group's count, decided here over its whole tree: plain
    # tuples off the cursor (run_sql), since that can be thousands of rows.
    decided = context.invited_decided(session, cycles)
    undecided = [c for c in cycles if c not in decided]
    invited_hidden: dict[int, frozenset[int]] = {}
    if undecided:
        everyone = run_sql(
            session,
            f"SELECT cycle_id, team_id, invited FROM participation WHERE cycle_id IN "
            f"({marks(len(undecided))})",
            undecided,
        )
        invited_hidden = hidden_by_cell(
            lambda c: context.trees.of(c).parents,
            everyone,
            context.ks(session, undecided, kind="participation").__getitem__,
        )
    rows = group_rows(
        session,
        "participation",
        ("team_id", "cycle_id", "invited", "responded", "invited_hidden"),
        cycle_ids=cycles,
        team_ids=team_ids,
    )
    opened = opened_dates(session, cycles, context)
    result = []
    for team, cycle, invited, responded, stored_hidden in rows:
        state = pattern.state(team, cycle)
        names = context.names_in(session, cycle)
        parent = names[team][1]
        if cycle in decided:
            invited_shown = not stored_hidden
        else:
            invited_shown = team not in invited_hidden.get(cycle, frozenset())
        shown_invited: int | None = invited if invited_shown else None
        shown_responded: int | None = None
        rate: int | None = None
        if state is None:
            shown_responded = responded
            # A rate beside a hidden number invited would give that number away.
            rate = round_pct(100.0 * responded / invited) if invited_shown and invited else None
        elif state == OPEN and invited_shown and open_rate_shown(invited):
            rate = coarse_rate(responded, invited)
        elif state == OPEN and not invited_shown:
            # No rate while open either: say why, as the closed cycle will.
            small = invited < context.k_of(session, cycle, "participation")
            state = TOO_SMALL if small else COMPLEMENT
        result.append(
            ParticipationRow(
                team_id=team,
                team=names[team][0],
                cycle_id=cycle,
                invited=shown_invited,
                responded=shown_responded,
                rate=rate,
                state=state,
                reason=None
                if state is None
                else pattern.text(
                    state, cycle, parent=None if parent is None else names[parent][0]
                ),
            )
        )
    result.sort(key=lambda r: (opened[r.cycle_id], r.team.lower()))
    return result
