"""Suppression decided once per cycle when its aggregates are written, and trusted while valid.

Which groups a report must hide depends on every group's count in the cell (a cycle and a
theme, item or the participation of the cycle), the team tree and the threshold k. Deciding
that over the whole tree on every read made each report as costly as the whole cycle, so the
aggregation run that writes a cycle's figures also decides its hidden sets, in the same
transaction and under the same cycle lock: it stores them in the rows' `suppressed` (and
participation's `hidden`) flags and stamps the cycle with the k and the tree they hold for.

A report trusts a cycle's flags only while its stamp matches the cycle's k
(pulse.reporting.thresholds) and the cycle's own tree (pulse.reporting.trees; a digest of
every team's parent); any other cycle, for instance after an admin raises k, is decided on
that read from the stored counts, exactly as the stamp would have been, until the sweep or
the next run stamps it again. A stamp is only ever
written right after the flags it covers, so a stale stamp can slow a report, never mislead it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, delete, select, tuple_, update
from sqlalchemy.orm import Session

from pulse.confidentiality import MAX_THRESHOLD, validate_threshold
from pulse.db import utcnow
from pulse.instrument import THEMES
from pulse.organisation.service import threshold, thresholds
from pulse.reporting.compute import THEME_LIST, IntArray
from pulse.reporting.fast import marks, run_sql, snapshots_current
from pulse.reporting.models import (
    ItemAggregate,
    Participation,
    SuppressionStamp,
    ThemeAggregate,
)
from pulse.reporting.store import bound_timestamp
from pulse.reporting.suppression import hidden_rows
from pulse.reporting.thresholds import cycle_thresholds
from pulse.reporting.trees import CycleTrees
from pulse.surveys.models import Cycle

Hidden = Callable[[int, int, Hashable], bool]


def unstamped_cycles(session: Session, *, k: int) -> tuple[list[int], CycleTrees, dict[int, int]]:
    """Cycles with figures whose flags do not hold for their k and tree (for the sweep), with
    the trees and thresholds of every cycle with figures, `k` being the setting in force."""
    with_figures = sorted(
        set(session.scalars(select(ThemeAggregate.cycle_id).union(select(Participation.cycle_id))))
    )
    trees = CycleTrees.load(session, with_figures)
    ks = cycle_thresholds(session, with_figures, current=k)
    stamps = dict(
        (cycle_id, (threshold, key))
        for cycle_id, threshold, key in session.execute(
            select(SuppressionStamp.cycle_id, SuppressionStamp.threshold, SuppressionStamp.tree_key)
        )
    )
    stale = [
        cycle_id
        for cycle_id in with_figures
        if cycle_id in ks and stamps.get(cycle_id) != (ks[cycle_id], trees.of(cycle_id).key)
    ]
    return stale, trees, ks


def _chunks(keys: list[Any], size: int = 500) -> Iterable[list[Any]]:
    # Bounded IN lists: a first run over an empty database shows thousands of rows at once.
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _changed_flags(
    session: Session, sql: str, *, cycles: list[int], parents: Mapping[int, int | None], k: int
) -> tuple[IntArray, IntArray]:
    """The stored rows whose flag must change: (to hide, to show), each as rows of `sql`.

    `sql` reads integer rows (group, cycle, part, n, stored flag 0/1) of these cycles, where a
    cell is a cycle and a part of it (a theme's index, an item; -1 for the cycle as a whole),
    and optionally a 6th column, 1 where the group is hidden from the start (its pattern).
    """
    found = run_sql(session, sql.format(cycles=marks(len(cycles))), cycles)
    width = len(found[0]) if found else 5
    rows = np.array(found, dtype=np.int64).reshape(-1, width)
    if len(rows) == 0:
        return rows, rows
    parts = int(rows[:, 2].max()) + 2
    wanted = hidden_rows(
        parents,
        cells=rows[:, 1] * parts + rows[:, 2] + 1,
        groups=rows[:, 0],
        n=rows[:, 3],
        k=k,
        seed=rows[:, 5] == 1 if width > 5 else None,
    )
    stored = rows[:, 4] == 1
    return rows[wanted & ~stored], rows[stored & ~wanted]


def stamp_cycles(
    session: Session, *, cycle_ids: Collection[int], ks: Mapping[int, int], trees: CycleTrees
) -> None:
    """Decide and store the hidden groups of every cell of these cycles, then stamp them.

    Each cycle is decided on its own tree at its own k. Call inside the transaction that
    wrote the cycles' aggregates, after taking their lock, so the counts read here are the
    ones the flags will be shown with.
    """
    session.flush()
    invited_ks = participation_ks(session, cycle_ids)
    for tree, k, cycles in trees.partition(cycle_ids, ks):
        _stamp_alike(session, cycles=cycles, parents=tree.parents, k=validate_threshold(k))
        _stamp_invited(session, cycles=cycles, parents=tree.parents, ks=invited_ks)
        _write_stamps(
            session,
            cycles=cycles,
            k=k,
            key=tree.key,
            now=utcnow(),
            participation=invited_ks,
            trees=trees,
        )


def participation_ks(session: Session, cycle_ids: Collection[int]) -> dict[int, int]:
    """Each cycle's participation threshold, as reports read it (ReportContext)."""
    current = thresholds(session, default=threshold(session, default=5)).participation
    return cycle_thresholds(session, cycle_ids, current=current, kind="participation")


def _stamp_invited(
    session: Session, *, cycles: list[int], parents: Mapping[int, int | None], ks: Mapping[int, int]
) -> None:
    """Decide and store which groups' numbers invited are hidden: the number invited is hidden
    by the same rules on its own counts at the participation threshold, so that no
    subtraction of visible groups' invitations gives away a group where fewer were invited
    (pulse.reporting.participation). Decided here once, not on every read."""
    flag = "CASE WHEN invited_hidden THEN 1 ELSE 0 END"
    by_k: dict[int, list[int]] = {}
    for cycle in cycles:
        by_k.setdefault(ks.get(cycle, MAX_THRESHOLD), []).append(cycle)
    for k, alike in by_k.items():
        hide, show = _changed_flags(
            session,
            f"SELECT team_id, cycle_id, -1, invited, {flag} "
            "FROM participation WHERE cycle_id IN ({cycles})",
            cycles=alike,
            parents=parents,
            k=validate_threshold(k),
        )
        for rows, value in ((hide, True), (show, False)):
            for chunk in _chunks([(group, cycle) for group, cycle in rows[:, :2].tolist()]):
                session.execute(
                    update(Participation)
                    .where(tuple_(Participation.team_id, Participation.cycle_id).in_(chunk))
                    .values(invited_hidden=value)
                    .execution_options(synchronize_session=False)
                )


def _stamp_alike(
    session: Session, *, cycles: list[int], parents: Mapping[int, int | None], k: int
) -> None:
    """stamp_cycles for cycles that share one tree and one k."""
    flag = "CASE WHEN {} THEN 1 ELSE 0 END"
    # The pattern is decided on the number who answered, a cell per cycle (see
    # pulse.reporting.pattern), and kept in participation's `hidden` flag.
    hide, show = _changed_flags(
        session,
        f"SELECT team_id, cycle_id, -1, responded, {flag.format('hidden')} "
        "FROM participation WHERE cycle_id IN ({cycles})",
        cycles=cycles,
        parents=parents,
        k=k,
    )
    for rows, value in ((hide, True), (show, False)):
        for chunk in _chunks([(group, cycle) for group, cycle in rows[:, :2].tolist()]):
            session.execute(
                update(Participation)
                .where(tuple_(Participation.team_id, Participation.cycle_id).in_(chunk))
                .values(hidden=value)
                .execution_options(synchronize_session=False)
            )
    # Every theme and item row of a group and cycle starts from the pattern (the 6th column);
    # a measure that fewer than k of a visible group answered is hidden on top of it.
    index = " ".join(f"WHEN '{theme}' THEN {i}" for i, theme in enumerate(THEMES))
    for model, part, table, column, names in (
        (
            ThemeAggregate,
            ThemeAggregate.theme,
            "theme_aggregates",
            f"CASE theme {index} END",
            THEMES,
        ),
        (ItemAggregate, ItemAggregate.item_id, "item_aggregates", "item_id", None),
    ):
        pattern = (
            "COALESCE((SELECT CASE WHEN p.hidden THEN 1 ELSE 0 END FROM participation p "
            f"WHERE p.team_id = {table}.team_id AND p.cycle_id = {table}.cycle_id), 1)"
        )
        # Theme names are our own constants, so writing them inline cannot inject anything.
        sql = (
            f"SELECT team_id, cycle_id, {column}, n, {flag.format('suppressed')}, {pattern} "
            f"FROM {table} WHERE cycle_id IN ({{cycles}})"
        )
        if names:
            sql += f" AND theme IN ({THEME_LIST})"
        hide, show = _changed_flags(session, sql, cycles=cycles, parents=parents, k=k)
        for rows, value in ((hide, True), (show, False)):
            keys = [
                (group, cycle, names[at] if names else at)
                for group, cycle, at in rows[:, :3].tolist()
            ]
            for chunk in _chunks(keys):
                session.execute(
                    update(model)
                    .where(tuple_(model.team_id, model.cycle_id, part).in_(chunk))
                    .values(suppressed=value)
                    .execution_options(synchronize_session=False)
                )


def stamp_decided(
    session: Session, *, cycle_ids: Collection[int], ks: Mapping[int, int], trees: CycleTrees
) -> None:
    """Stamp cycles whose every stored flag was just written as decided by hidden_rows.

    Only for a run that wrote the whole of these cycles (stale rows deleted) with flags from
    pulse.reporting.suppression.hidden_rows over the same figures, trees and thresholds, in
    this transaction and under the cycle lock.
    """
    invited_ks = participation_ks(session, cycle_ids)
    for tree, k, cycles in trees.partition(cycle_ids, ks):
        # The numbers invited are not part of the run's decision: decided here, from the
        # counts the run just wrote.
        _stamp_invited(session, cycles=cycles, parents=tree.parents, ks=invited_ks)
        _write_stamps(
            session,
            cycles=cycles,
            k=validate_threshold(k),
            key=tree.key,
            now=utcnow(),
            participation=invited_ks,
            trees=trees,
        )


def _write_stamps(
    session: Session,
    *,
    cycles: list[int],
    k: int,
    key: str,
    now: datetime,
    participation: Mapping[int, int],
    trees: CycleTrees,
) -> None:
    # The generation the trees were read at, never a later one (pulse.reporting.fast).
    generation = trees.generation
    current = snapshots_current(session, cycles) if generation is not None else set()
    # One prepared upsert on the DBAPI cursor: every run ends here, mostly for one cycle.
    connection = session.connection()
    value = bound_timestamp(connection, cast(Table, SuppressionStamp.__table__), now)
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            "INSERT INTO suppression_stamps (cycle_id, threshold, tree_key, computed_at, "
            "participation_threshold, tree_generation, snapshot_current) "
            f"VALUES ({', '.join([mark] * 7)}) "
            "ON CONFLICT (cycle_id) DO UPDATE SET threshold = excluded.threshold, "
            "tree_key = excluded.tree_key, computed_at = excluded.computed_at, "
            "participation_threshold = excluded.participation_threshold, "
            "tree_generation = excluded.tree_generation, "
            "snapshot_current = excluded.snapshot_current",
            [
                (
                    cycle_id,
                    k,
                    key,
                    value,
                    participation.get(cycle_id),
                    generation,
                    cycle_id in current,
                )
                for cycle_id in cycles
            ],
        )
    finally:
        cursor.close()


def restamp_stale(session: Session, *, threshold: int) -> list[int]:
    """Stamp every cycle whose flags do not hold for its k and tree; returns those cycles.

    Takes the same per-cycle write lock as an aggregation run, so a run writing one of these
    cycles meanwhile stamps it either before (and this recomputes it) or after this.
    """
    k = validate_threshold(threshold)
    cycles, trees, ks = unstamped_cycles(session, k=k)
    _renew_generations(session, trees)
    if cycles:
        session.execute(
            update(Cycle)
            .where(Cycle.id.in_(cycles))
            .values(status=Cycle.status)
            .execution_options(synchronize_session=False)
        )
        stamp_cycles(session, cycle_ids=cycles, ks=ks, trees=trees)
    return cycles


def _renew_generations(session: Session, trees: CycleTrees) -> None:
    """Record the trees' generation on every stamp whose key still holds for them, so that
    reports trust it again without reading snapshots after a change that left its tree as it
    was (a rename, a move of a team the snapshot already holds)."""
    if trees.generation is None:
        return
    stamps = run_sql(session, "SELECT cycle_id, tree_key, tree_generation FROM suppression_stamps")
    behind = [(cycle_id, key) for cycle_id, key, gen in stamps if gen != trees.generation]
    trees.need(session, [cycle_id for cycle_id, _ in behind])
    holding = [cycle_id for cycle_id, key in behind if key == trees.of(cycle_id).key]
    current = snapshots_current(session, holding)
    for cycle_id in holding:
        session.execute(
            update(SuppressionStamp)
            .where(SuppressionStamp.cycle_id == cycle_id)
            .values(tree_generation=trees.generation, snapshot_current=cycle_id in current)
            .execution_options(synchronize_session=False)
        )


def forget_stamps(session: Session, *, cycle_ids: Collection[int] | None) -> None:
    """Drop the stamps of these cycles (None: all): their flags no longer hold."""
    statement = delete(SuppressionStamp)
    if cycle_ids is not None:
        statement = statement.where(SuppressionStamp.cycle_id.in_(sorted(cycle_ids)))
    session.execute(statement.execution_options(synchronize_session=False))
