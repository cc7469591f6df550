"""Turning answers into stored aggregates: incremental, per cycle at close, or everything.

Stored aggregates keep full precision and the real n of every group, small ones included.
Every cycle is rolled up on its own team tree, the snapshot taken when it opened
(pulse.reporting.trees). Whatever cycles a run writes, it decides their suppression over that
whole tree at the cycle's threshold (pulse.reporting.thresholds, pulse.reporting.stamps) and
stamps them, in the same transaction and
under the same lock: from the figures it holds when it writes whole cycles (a rebuild, a
finalisation, a run with every group of the cycle due), from the stored rows otherwise.
pulse.reporting.queries trusts those flags only while the stamp matches the cycle's k and
tree, and decides on the read otherwise, so raising k takes effect on the next read.
Change flags are decided at finalisation with the k then in force, reading
only rows shown at that k (pulse.reporting.change); after changing k, `pulse aggregate --all`
recomputes them, and a read never shows a flag on a row it hides or one that read a row it
hides.

Writes touch only what changed (pulse.reporting.store): a run compares the rows it computed
with the stored rows of the cycles and groups it covers, writes the new and changed ones and
deletes, by their keys, stored rows with no answers behind them any more. A row's
`computed_at` is therefore when its figures were first written or last changed, not when a
run last confirmed them; a rerun that changes nothing leaves every row as it was.

Concurrency: every run first takes a write lock on the cycles it recomputes (a no-op UPDATE),
so two runs touching the same department never interleave reads and writes, while runs for
different cycles proceed in parallel. Dirty marks are deleted before the answers are read, so
a submit that lands meanwhile marks its team dirty again and is picked up by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pulse.confidentiality import validate_threshold
from pulse.db import utcnow
from pulse.instrument import THEMES
from pulse.reporting.change import FlagColumns, flag_changes
from pulse.reporting.decide import Computed, compute_cycles, decide_hidden, k_rows
from pulse.reporting.fast import run_sql
from pulse.reporting.models import DirtyTeamCycle, ItemAggregate, Participation, ThemeAggregate
from pulse.reporting.stamps import stamp_cycles, stamp_decided
from pulse.reporting.store import clean, upsert
from pulse.surveys.models import Cycle

Progress = Callable[[int], None]

_THEME_FIGURES = (
    "n",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "favourable_n",
    "favourable_pct",
    "fav_low",
    "fav_high",
    "answers_n",
    "favourable_sq",
    "favourable_cross",
    "answers_sq",
    "item_set",
    "suppressed",
)
_FLAGS = (
    "change",
    "change_p",
    "delta",
    "delta_low",
    "delta_high",
    "window_n",
    "window_cycles",
    "baseline_n",
    "baseline_mean",
    "baseline_cycles",
    "compared_cycles",
    "final",
)
_ITEM_FIGURES = ("n", "mean", "distribution", "top2_pct", "suppressed")
_DISTRIBUTION = '{{"1": {}, "2": {}, "3": {}, "4": {}, "5": {}}}'
# `suppressed` is decided over the whole tree. A run that writes whole cycles decides it from
# the figures it holds and writes it with them (a change of flag alone leaves computed_at).
# A run over some groups of a cycle cannot (the other groups' stored counts decide too), so
# stamp_cycles decides it once the figures are written: a new row starts from n < k, a stored
# one keeps its flag until then, so a row whose figures are unchanged is not rewritten here
# only for the stamp to flip it back.
_THEME_WRITTEN = tuple(name for name in _THEME_FIGURES if name != "suppressed")
_ITEM_WRITTEN = tuple(name for name in _ITEM_FIGURES if name != "suppressed")
# Rows are written in slices of whole cycles holding about this many item rows: the progress
# bar moves during a long rebuild and a slice's row lists stay bounded, while each statement,
# and each wait for the database to finish a COPY, is paid for tens of thousands of rows.
_ROWS_PER_SLICE = 50_000


def _lock_cycle(session: Session, cycle_id: int) -> bool | None:
    """Lock one cycle as _lock_cycles does; whether it is finalised (None: no such cycle)."""
    # The column itself, tested here: SQLite 3.40 can return a wrong `IS NOT NULL` there.
    found = run_sql(
        session, "UPDATE cycles SET status = status WHERE id = ? RETURNING finalised_at", [cycle_id]
    )
    return found[0][0] is not None if found else None


def _lock_cycles(session: Session, cycle_ids: Collection[int] | None) -> None:
    """Serialise runs over the same cycles (row locks on PostgreSQL, the write lock on SQLite)."""
    statement = update(Cycle).values(status=Cycle.status)
    if cycle_ids is not None:
        statement = statement.where(Cycle.id.in_(sorted(cycle_ids)))
    session.execute(statement.execution_options(synchronize_session=False))


def _select(groups: np.ndarray, cycles: np.ndarray, scope: set[int] | None, part: set[int]) -> Any:
    keep = np.isin(cycles, sorted(part))
    if scope is not None:
        keep &= np.isin(groups, sorted(scope))
    return np.nonzero(keep)[0]


def _theme_columns(
    data: Computed, rows: Any, flags: FlagColumns, final: set[int]
) -> dict[str, list[Any]]:
    t = data.themes
    cycles, themes = t.cycle[rows].tolist(), t.theme[rows].tolist()
    # The item set is the same for every group of a cycle and theme: join it once each.
    item_sets = {
        (c, th): ",".join(map(str, data.asked.get((c, THEMES[th]), [])))
        for c, th in set(zip(cycles, themes, strict=True))
    }
    columns: dict[str, list[Any]] = {
        "team_id": t.group[rows].tolist(),
        "cycle_id": cycles,
        "theme": [THEMES[th] for th in themes],
    }
    for name in _THEME_FIGURES[:-2]:
        columns[name] = clean(getattr(t, name)[rows])
    columns["item_set"] = [item_sets[key] for key in zip(cycles, themes, strict=True)]
    columns["suppressed"] = (t.n[rows] < k_rows(data, t.cycle[rows])).tolist()
    picked = rows.tolist()
    columns["change"] = [flags.direction[row] for row in picked]
    columns["change_p"] = clean(flags.p[rows])
    columns["delta"] = clean(flags.delta[rows])
    columns["delta_low"] = clean(flags.delta_low[rows])
    columns["delta_high"] = clean(flags.delta_high[rows])
    columns["baseline_mean"] = clean(flags.baseline_mean[rows])
    for name in ("window_n", "window_cycles", "baseline_n", "baseline_cycles"):
        values = getattr(flags, name)
        columns[name] = [values[row] for row in picked]
    columns["compared_cycles"] = [flags.compared[row] for row in picked]
    columns["final"] = [c in final for c in cycles]
    return columns


def _item_columns(data: Computed, rows: Any) -> dict[str, list[Any]]:
    s = data.items
    counts = s.counts[rows]
    n = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s.total[rows] / n, np.nan)
        top2 = np.where(n > 0, 100.0 * (counts[:, 3] + counts[:, 4]) / n, np.nan)
    groups, cycles, items = s.group[rows].tolist(), s.cycle[rows].tolist(), s.item[rows].tolist()
    return {
        "team_id": groups,
        "cycle_id": cycles,
        "item_id": items,
        "n": n.tolist(),
        "mean": clean(mean),
        # Serialised here: the writer passes JSON text straight through.
        # Formatted column-wise: a list per row would be a hundred thousand small objects.
        "distribution": list(map(_DISTRIBUTION.format, *counts.T.tolist())),
        "top2_pct": clean(top2),
        "suppressed": (n < k_rows(data, s.cycle[rows])).tolist(),
    }


def _slices(cycle_ids: list[int], cycles: Any) -> list[set[int]]:
    """The cycles in order, cut into runs whose rows (one cycle per entry of `cycles`) reach
    _ROWS_PER_SLICE, the last run holding what is left."""
    found, counts = np.unique(cycles, return_counts=True)
    per_cycle = dict(zip(found.tolist(), counts.tolist(), strict=True))
    slices: list[set[int]] = [set()]
    rows = 0
    for cycle_id in cycle_ids:
        if rows >= _ROWS_PER_SLICE:
            slices.append(set())
            rows = 0
        slices[-1].add(cycle_id)
        rows += per_cycle.get(cycle_id, 0)
    return [part for part in slices if part]


def _write(
    session: Session,
    data: Computed,
    *,
    cycle_ids: list[int],
    scope: set[int] | None,
    final: set[int],
    now: datetime,
    progress: Progress | None = None,
) -> None:
    """Upsert the computed rows of `scope` (None: every group) and drop rows gone stale."""
    t, s, p = data.themes, data.items, data.participation
    # Written whole, the cycles will hold exactly these rows: their flags are decided here.
    hidden = decide_hidden(data) if scope is None else None
    # A flag is tested only on shown rows against shown rows, all at the strictest threshold
    # of the cycles flagged; a read never shows one on a hidden row or against one.
    flag_k = max(
        (data.ks[c] for c in final if c in data.ks), default=min(data.ks.values(), default=3)
    )
    flags = flag_changes(
        session,
        t,
        k=flag_k,
        cycle_ids=final,
        hidden=None if hidden is None else hidden.themes,
    )
    untimed = ("suppressed",) if hidden is not None else ()
    for part in _slices(cycle_ids, s.cycle):
        # The rows written are all there is for this part: any other stored row in it has
        # no answers behind it any more and is deleted.
        within: dict[str, set[int]] = {"cycle_id": part}
        if scope is not None:
            within["team_id"] = scope
        rows = _select(t.group, t.cycle, scope, part)
        columns = _theme_columns(data, rows, flags, final)
        if hidden is not None:
            columns["suppressed"] = hidden.themes[rows].tolist()
        upsert(
            session,
            ThemeAggregate.__table__,  # type: ignore[arg-type]
            columns,
            keys=("team_id", "cycle_id", "theme"),
            # An interim run over an open cycle leaves flags alone; there are none before close.
            update=_THEME_WRITTEN + (_FLAGS if part & final else ()),
            computed_at=now,
            within=within,
            untimed=untimed,
        )
        rows = _select(s.group, s.cycle, scope, part)
        columns = _item_columns(data, rows)
        if hidden is not None:
            columns["suppressed"] = hidden.items[rows].tolist()
        upsert(
            session,
            ItemAggregate.__table__,  # type: ignore[arg-type]
            columns,
            keys=("team_id", "cycle_id", "item_id"),
            update=_ITEM_WRITTEN,
            computed_at=now,
            within=within,
            untimed=untimed,
        )
        rows = _select(p.group, p.cycle, scope, part)
        columns = {
            "team_id": p.group[rows].tolist(),
            "cycle_id": p.cycle[rows].tolist(),
            "invited": p.invited[rows].tolist(),
            "responded": p.responded[rows].tolist(),
        }
        if hidden is not None:
            columns["hidden"] = hidden.participation[rows].tolist()
        upsert(
            session,
            Participation.__table__,  # type: ignore[arg-type]
            columns,
            keys=("team_id", "cycle_id"),
            update=("invited", "responded"),
            computed_at=now,
            within=within,
            untimed=("hidden",) if hidden is not None else (),
        )
        if progress:
            progress(len(part))
    if hidden is not None:
        stamp_decided(session, cycle_ids=cycle_ids, ks=data.ks, trees=data.tree)
    else:
        stamp_cycles(session, cycle_ids=cycle_ids, ks=data.ks, trees=data.tree)


def _groups(data: Computed) -> set[int]:
    """Every group this run has figures for."""
    groups = np.concatenate((data.themes.group, data.items.group, data.participation.group))
    return set(np.unique(groups).tolist())


def _aggregate_cycle(
    session: Session, *, cycle_id: int, teams: set[int], k: int, finalised: bool
) -> None:
    data = compute_cycles(session, [cycle_id], k)
    due: set[int] = set()
    for team in teams:
        due.update(data.tree.of(cycle_id).chain(team))
    # Every group with figures in the cycle is due: write the cycle whole, as finalising does.
    # Stored rows of any other group have no answers behind them and go, as they would then.
    _write(
        session,
        data,
        cycle_ids=[cycle_id],
        scope=None if due.issuperset(_groups(data)) else due,
        final={cycle_id} if finalised else set(),
        now=utcnow(),
    )


def aggregate_team_cycle(session: Session, *, team_id: int, cycle_id: int, threshold: int) -> None:
    """Recompute one team's aggregates for one cycle and those of every group above it."""
    k = validate_threshold(threshold)
    finalised = _lock_cycle(session, cycle_id)
    if finalised is None:
        raise ValueError(f"no cycle with id {cycle_id}")
    _aggregate_cycle(session, cycle_id=cycle_id, teams={team_id}, k=k, finalised=finalised)
    session.flush()


def aggregate_dirty(session: Session, *, threshold: int) -> int:
    """Recompute every team × cycle marked dirty; returns how many were processed."""
    k = validate_threshold(threshold)
    # Deleting first claims the marks: a concurrent run cannot take the same ones, and a
    # submit committing after this point marks its team again for the next run.
    claimed = run_sql(session, "DELETE FROM dirty_team_cycles RETURNING team_id, cycle_id")
    by_cycle: dict[int, set[int]] = {}
    for team_id, cycle_id in claimed:
        by_cycle.setdefault(cycle_id, set()).add(team_id)
    for cycle_id in sorted(by_cycle):
        finalised = _lock_cycle(session, cycle_id)
        # A cycle deleted since its teams were marked has nothing left to aggregate.
        if finalised is not None:
            _aggregate_cycle(
                session, cycle_id=cycle_id, teams=by_cycle[cycle_id], k=k, finalised=finalised
            )
    session.flush()
    return len(claimed)


def finalise_cycle(session: Session, *, cycle_id: int, threshold: int) -> None:
    """Aggregate a closed cycle in full, decide its change flags and mark its rows final."""
    k = validate_threshold(threshold)
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise ValueError(f"no cycle with id {cycle_id}")
    if cycle.status == "open":
        raise ValueError("a cycle can only be finalised once it has closed")
    _lock_cycles(session, [cycle_id])
    session.execute(delete(DirtyTeamCycle).where(DirtyTeamCycle.cycle_id == cycle_id))
    data = compute_cycles(session, [cycle_id], k)
    _write(session, data, cycle_ids=[cycle_id], scope=None, final={cycle_id}, now=utcnow())
    cycle.finalised_at = cycle.finalised_at or utcnow()
    session.flush()


def rebuild_steps(session: Session) -> int:
    """How many units `rebuild_all` reports to its progress callback (for a progress bar)."""
    return int(session.scalar(select(func.count()).select_from(Cycle)) or 0) + 1


def rebuild_all(session: Session, *, threshold: int, progress: Progress | None = None) -> int:
    """Recompute every aggregate of every cycle, flags included; returns the cycles done."""
    k = validate_threshold(threshold)
    _lock_cycles(session, None)
    session.execute(delete(DirtyTeamCycle))
    cycles = list(session.execute(select(Cycle.id, Cycle.status).order_by(Cycle.opens_at)))
    data = compute_cycles(session, None, k)
    if progress:
        progress(1)
    closed = {cycle_id for cycle_id, status in cycles if status != "open"}
    now = utcnow()
    _write(
        session,
        data,
        cycle_ids=[cycle_id for cycle_id, _ in cycles],
        scope=None,
        final=closed,
        now=now,
        progress=progress,
    )
    session.execute(
        update(Cycle)
        .where(Cycle.id.in_(sorted(closed)), Cycle.finalised_at.is_(None))
        .values(finalised_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return len(cycles)
