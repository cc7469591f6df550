"""Whether the earlier figures a change test read are hidden now.

A change flag is shown only where every earlier figure its test read is still shown: a test
that read a figure hidden now would hint at it (pulse.reporting.themes). Each test reads the
cycle before and up to twelve before that, so a report on one cycle asks about a dozen
earlier ones, for every group it shows.

Of an earlier cycle that is closed and stamped (pulse.reporting.stamps), a group's figure of
a theme is shown exactly when its stored row is not flagged and the group's participation is
not hidden and reaches the cycle's threshold, the pattern's own rule (pulse.reporting.pattern).
The database answers that for every group at once, as the list of cycles in which each
group's theme is shown; only those lists travel, never the rows. Any other earlier cycle is
decided as a report's own cycles are, from its rows and its pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.orm import Session

from pulse.reporting import fast
from pulse.reporting.context import ReportContext
from pulse.reporting.fast import group_rows, marks, run_sql
from pulse.reporting.models import ThemeAggregate
from pulse.reporting.pattern import load_pattern, measure_hidden

Hidden = Callable[[int, int, str], bool]


def _ids(text: str | None, known: dict[str, frozenset[int]]) -> frozenset[int]:
    """Comma-separated cycle ids as a set; most rows of a report share the same text, so each
    distinct text is parsed once."""
    found = known.get(text or "")
    if found is None:
        found = known[text or ""] = frozenset(int(c) for c in (text or "").split(",") if c)
    return found


class EarlierFigures:
    """Which figures of the earlier cycles a report's change tests read are hidden now."""

    def __init__(self, quick: set[int], shown: dict[tuple[int, str], str], plain: Hidden) -> None:
        # Closed, stamped cycles, answered by the lists of cycles each figure is shown in;
        # any other earlier cycle by `plain` (open ones, stamped, show nothing: see hidden).
        self._quick, self._shown, self._plain = quick, shown, plain
        self._parsed: dict[str, frozenset[int]] = {}

    def any_hidden(self, team_id: int, theme: str, cycles: frozenset[int]) -> bool:
        """Whether the group's figure of the theme is hidden now in any of these cycles."""
        quick = cycles & self._quick
        if quick and not quick <= _ids(self._shown.get((team_id, theme)), self._parsed):
            return True
        return any(self._plain(team_id, c, theme) for c in cycles - self._quick)


def earlier_figures(
    session: Session,
    *,
    context: ReportContext,
    cycle_ids: Collection[int],
    team_ids: Collection[int],
    figures: Collection[str],
) -> EarlierFigures:
    """The figures of these earlier cycles and groups; `figures` are the columns the plain
    path reads of a theme row (it needs `n` and `suppressed`)."""
    cycles = sorted(set(cycle_ids))
    if not cycles or not team_ids:
        return EarlierFigures(set(), {}, lambda team_id, cycle_id, theme: True)
    stamped = context.stamped(session, cycles)
    closed = {
        cycle_id
        for (cycle_id,) in run_sql(
            session,
            f"SELECT id FROM cycles WHERE status = 'closed' AND id IN ({marks(len(cycles))})",
            cycles,
        )
    }
    quick = sorted(stamped & closed)
    shown = _shown_cycles(session, context=context, cycle_ids=quick, team_ids=team_ids)
    unstamped = [c for c in cycles if c not in stamped]
    plain = _plain_hidden(
        session, context=context, cycle_ids=unstamped, team_ids=team_ids, figures=figures
    )
    left = set(unstamped)

    def hidden(team_id: int, cycle_id: int, theme: str) -> bool:
        # A stamped cycle that is not closed is open (or sealed): it shows nothing.
        return plain(team_id, cycle_id, theme) if cycle_id in left else True

    return EarlierFigures(set(quick), shown, hidden)


def compared_cycles(
    session: Session,
    *,
    cycle_ids: Collection[int],
    team_ids: Collection[int],
    flagged_only: bool = False,
) -> dict[tuple[int, int, str], frozenset[int]]:
    """(group, cycle, theme) → the other cycles its change test read, for tested rows (with
    `flagged_only`, for rows whose test raised a flag)."""
    found = group_rows(
        session,
        "theme_aggregates",
        ("team_id", "cycle_id", "theme", "compared_cycles"),
        cycle_ids=cycle_ids,
        team_ids=team_ids,
        where="compared_cycles IS NOT NULL" + (" AND change IS NOT NULL" if flagged_only else ""),
    )
    known: dict[str, frozenset[int]] = {}
    return {
        (team_id, cycle_id, theme): _ids(read, known) for team_id, cycle_id, theme, read in found
    }


def _shown_cycles(
    session: Session, *, context: ReportContext, cycle_ids: list[int], team_ids: Collection[int]
) -> dict[tuple[int, str], str]:
    """(group, theme) → the comma-separated cycles among these (closed and stamped) in which
    the group's figure of the theme is shown."""
    if not cycle_ids:
        return {}
    ks = context.ks(session, cycle_ids)
    # Cycle ids and thresholds are integers we hold: inline, they cannot inject anything.
    k_of = " ".join(f"WHEN {int(c)} THEN {int(k)}" for c, k in ks.items())
    postgres = session.get_bind().dialect.name == "postgresql"
    listed = "string_agg(CAST(a.cycle_id AS TEXT), ',')" if postgres else "group_concat(a.cycle_id)"
    sql = (
        f"SELECT a.team_id, a.theme, {listed} FROM theme_aggregates a "
        "JOIN participation p ON p.team_id = a.team_id AND p.cycle_id = a.cycle_id "
        f"WHERE a.cycle_id IN ({marks(len(cycle_ids))}) AND NOT a.suppressed "
        f"AND NOT p.hidden AND p.responded >= CASE a.cycle_id {k_of} END"
    )
    params: list[int] = list(cycle_ids)
    groups = set(team_ids)
    few = len(groups) <= fast.FEW_GROUPS  # as group_rows: a long list is filtered here
    if few:
        sql += f" AND a.team_id IN ({marks(len(groups))})"
        params += sorted(groups)
    found = run_sql(session, f"{sql} GROUP BY a.team_id, a.theme", params)
    return {(team, theme): text for team, theme, text in found if few or team in groups}


def _plain_hidden(
    session: Session,
    *,
    context: ReportContext,
    cycle_ids: list[int],
    team_ids: Collection[int],
    figures: Collection[str],
) -> Hidden:
    """hidden(group, cycle, theme) decided from the rows and pattern of these cycles."""
    if not cycle_ids:
        return lambda team_id, cycle_id, theme: True
    rows = {
        (row.team_id, row.cycle_id, row.theme): row
        for row in group_rows(
            session,
            "theme_aggregates",
            tuple(figures),
            cycle_ids=cycle_ids,
            team_ids=team_ids,
        )
    }
    pattern = load_pattern(session, context=context, cycle_ids=cycle_ids, team_ids=team_ids)
    measure = measure_hidden(
        session, context=context, pattern=pattern, model=ThemeAggregate, cell=ThemeAggregate.theme
    )

    def hidden(team_id: int, cycle_id: int, theme: str) -> bool:
        row = rows.get((team_id, cycle_id, theme))
        return row is None or measure(team_id, cycle_id, theme, row.suppressed)

    return hidden
