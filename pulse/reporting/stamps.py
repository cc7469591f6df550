"""Suppression decided once per cycle when its aggregates are written, and trusted while valid.

Which groups a report must hide depends on every group's count in the cell (a cycle and a
theme, item or the participation of the cycle), the team tree and the threshold k. Deciding
that over the whole tree on every read made each report as costly as the whole cycle, so the
aggregation run that writes a cycle's figures also decides its hidden sets, in the same
transaction and under the same cycle lock: it stores them in the rows' `suppressed` (and
participation's `hidden`) flags and stamps the cycle with the k and the tree they hold for.

A report trusts a cycle's flags only while its stamp matches the k in force and the tree as
it is now (a digest of every team's parent); any other cycle, for instance after an admin
changes k or moves a team, is decided on that read from the stored counts, exactly as the
stamp would have been, until the sweep or the next run stamps it again. A stamp is only ever
written right after the flags it covers, so a stale stamp can slow a report, never mislead it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from pulse.confidentiality import validate_threshold
from pulse.db import dialect_insert, utcnow
from pulse.reporting.compute import IntArray, TeamTree
from pulse.reporting.models import (
    ItemAggregate,
    Participation,
    SuppressionStamp,
    ThemeAggregate,
)
from pulse.reporting.suppression import hidden_by_cell, hidden_in_cells
from pulse.surveys.models import Cycle

Hidden = Callable[[int, int, Hashable], bool]


def tree_key(parents: Mapping[int, int | None]) -> str:
    """A digest of the team tree: equal exactly when every team has the same parent."""
    text = ";".join(
        f"{team}:{'' if parent is None else parent}" for team, parent in sorted(parents.items())
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def unstamped_cycles(session: Session, *, k: int, tree: TeamTree) -> list[int]:
    """Cycles with figures whose flags do not hold for k and this tree (for the sweep)."""
    current = select(SuppressionStamp.cycle_id).where(
        SuppressionStamp.threshold == k, SuppressionStamp.tree_key == tree_key(tree.parents)
    )
    with_figures = select(ThemeAggregate.cycle_id).union(select(Participation.cycle_id))
    return sorted(set(session.scalars(with_figures)) - set(session.scalars(current)))


def _flag_changes(
    *,
    rows: Iterable[tuple[object, Hashable, int, int, bool]],
    parents: Mapping[int, int | None],
    k: int,
) -> tuple[list[object], list[object]]:
    """From (row key, cell, group, n, stored flag), the row keys to hide and to show."""
    listed = list(rows)
    hidden = hidden_by_cell(parents, ((cell, group, n) for _, cell, group, n, _ in listed), k)
    to_hide, to_show = [], []
    for key, cell, group, _, stored in listed:
        wanted = group in hidden.get(cell, frozenset())
        if wanted and not stored:
            to_hide.append(key)
        elif stored and not wanted:
            to_show.append(key)
    return to_hide, to_show


def _chunks(keys: list[object], size: int = 500) -> Iterable[list[object]]:
    # Bounded IN lists: a first run over an empty database shows thousands of rows at once.
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def stamp_cycles(
    session: Session, *, cycle_ids: Collection[int], threshold: int, tree: TeamTree
) -> None:
    """Decide and store the hidden groups of every cell of these cycles, then stamp them.

    Call inside the transaction that wrote the cycles' aggregates, after taking their lock,
    so the counts read here are the ones the flags will be shown with.
    """
    k = validate_threshold(threshold)
    cycles = sorted(set(cycle_ids))
    if not cycles:
        return
    session.flush()
    parents = tree.parents
    theme_rows = session.execute(
        select(
            ThemeAggregate.id,
            ThemeAggregate.cycle_id,
            ThemeAggregate.theme,
            ThemeAggregate.team_id,
            ThemeAggregate.n,
            ThemeAggregate.suppressed,
        ).where(ThemeAggregate.cycle_id.in_(cycles))
    )
    item_rows = session.execute(
        select(
            ItemAggregate.id,
            ItemAggregate.cycle_id,
            ItemAggregate.item_id,
            ItemAggregate.team_id,
            ItemAggregate.n,
            ItemAggregate.suppressed,
        ).where(ItemAggregate.cycle_id.in_(cycles))
    )
    taking_part = session.execute(
        select(
            Participation.team_id,
            Participation.cycle_id,
            Participation.invited,
            Participation.hidden,
        ).where(Participation.cycle_id.in_(cycles))
    )
    for model, (hide, show) in (
        (
            ThemeAggregate,
            _flag_changes(
                rows=((i, (c, th), g, n, s) for i, c, th, g, n, s in theme_rows),
                parents=parents,
                k=k,
            ),
        ),
        (
            ItemAggregate,
            _flag_changes(
                rows=((i, (c, item), g, n, s) for i, c, item, g, n, s in item_rows),
                parents=parents,
                k=k,
            ),
        ),
    ):
        for ids, value in ((hide, True), (show, False)):
            for chunk in _chunks(ids):
                session.execute(
                    update(model)
                    .where(model.id.in_(chunk))
                    .values(suppressed=value)
                    .execution_options(synchronize_session=False)
                )
    # Participation counts are suppressed on the number invited, a cell per cycle.
    hide, show = _flag_changes(
        rows=(((g, c), c, g, invited, h) for g, c, invited, h in taking_part),
        parents=parents,
        k=k,
    )
    for keys, value in ((hide, True), (show, False)):
        for chunk in _chunks(keys):
            session.execute(
                update(Participation)
                .where(tuple_(Participation.team_id, Participation.cycle_id).in_(chunk))
                .values(hidden=value)
                .execution_options(synchronize_session=False)
            )
    _write_stamps(session, cycles=cycles, k=k, key=tree_key(parents), now=utcnow())


def hidden_rows(
    parents: Mapping[int, int | None], *, cells: IntArray, groups: IntArray, n: IntArray, k: int
) -> npt.NDArray[np.bool_]:
    """Whether each row must be hidden, given every row of its cells: one entry per row.

    Rows are (cell, group, n) as three aligned arrays, a cell being any integer naming e.g. a
    cycle and theme; the decision is hidden_by_cell's, made here on whole columns so a run that
    writes every row of its cycles can store the flags it computed instead of reading them back.
    """
    hidden = np.zeros(len(cells), dtype=np.bool_)
    if len(cells) == 0:
        return hidden
    order = np.lexsort((groups, cells))
    starts = np.flatnonzero(np.diff(cells[order])) + 1
    bounds = list(zip([0, *starts.tolist()], [*starts.tolist(), len(order)], strict=True))
    ranked = list(zip(groups[order].tolist(), n[order].tolist(), strict=True))
    decided = hidden_in_cells(parents, (tuple(ranked[start:end]) for start, end in bounds), k)
    for (start, end), found in zip(bounds, decided, strict=True):
        if found:
            hidden[order[start:end]] = [group in found for group, _ in ranked[start:end]]
    return hidden


def stamp_decided(
    session: Session, *, cycle_ids: Collection[int], threshold: int, tree: TeamTree
) -> None:
    """Stamp cycles whose every stored flag was just written as decided by hidden_rows.

    Only for a run that wrote the whole of these cycles (stale rows deleted) with flags from
    hidden_rows over the same figures and tree, in this transaction and under the cycle lock.
    """
    k = validate_threshold(threshold)
    cycles = sorted(set(cycle_ids))
    if cycles:
        _write_stamps(session, cycles=cycles, k=k, key=tree_key(tree.parents), now=utcnow())


def _write_stamps(session: Session, *, cycles: list[int], k: int, key: str, now: datetime) -> None:
    insert = dialect_insert(session, SuppressionStamp)
    session.execute(
        insert.values(
            [{"cycle_id": c, "threshold": k, "tree_key": key, "computed_at": now} for c in cycles]
        ).on_conflict_do_update(
            index_elements=["cycle_id"],
            set_={
                "threshold": insert.excluded.threshold,
                "tree_key": insert.excluded.tree_key,
                "computed_at": insert.excluded.computed_at,
            },
        )
    )


def restamp_stale(session: Session, *, threshold: int) -> list[int]:
    """Stamp every cycle whose flags do not hold for k and the tree now; returns those cycles.

    Takes the same per-cycle write lock as an aggregation run, so a run writing one of these
    cycles meanwhile stamps it either before (and this recomputes it) or after this.
    """
    k = validate_threshold(threshold)
    tree = TeamTree.load(session)
    cycles = unstamped_cycles(session, k=k, tree=tree)
    if cycles:
        session.execute(
            update(Cycle)
            .where(Cycle.id.in_(cycles))
            .values(status=Cycle.status)
            .execution_options(synchronize_session=False)
        )
        stamp_cycles(session, cycle_ids=cycles, threshold=k, tree=tree)
    return cycles


def forget_stamps(session: Session, *, cycle_ids: Collection[int] | None) -> None:
    """Drop the stamps of these cycles (None: all): their flags no longer hold."""
    statement = delete(SuppressionStamp)
    if cycle_ids is not None:
        statement = statement.where(SuppressionStamp.cycle_id.in_(sorted(cycle_ids)))
    session.execute(statement.execution_options(synchronize_session=False))
