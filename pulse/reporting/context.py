"""What the queries of one report share: the threshold, the tree and names, stamp checks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from pulse.confidentiality import validate_threshold
from pulse.reporting.compute import TeamTree, marks, run_sql
from pulse.reporting.stamps import tree_key


@dataclass
class ReportContext:
    """Read once per report (a dashboard callback, an export) and handed to each query.

    A report asks several queries about the same cycles; they then share one read of the
    tree and one look at the cycles' suppression stamps. Make a new one for every report, so
    nothing outlives the request that read it.
    """

    k: int
    tree: TeamTree
    key: str
    _names: dict[int, tuple[str, int | None]] | None = field(default=None, repr=False)
    _stamped: dict[int, bool] = field(default_factory=dict, repr=False)
    # When each cycle asked about so far opened (filled by the queries).
    opened: dict[int, datetime] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, session: Session, *, threshold: int) -> ReportContext:
        """The tree and threshold as they are now (names are read when first asked for)."""
        k = validate_threshold(threshold)
        tree = TeamTree.load(session)
        return cls(k=k, tree=tree, key=tree_key(tree.parents))

    def names(self, session: Session) -> dict[int, tuple[str, int | None]]:
        """Every group's name and parent, read once per report."""
        if self._names is None:
            self._names = {
                team_id: (name, parent)
                for team_id, name, parent in run_sql(
                    session, "SELECT id, name, parent_id FROM teams"
                )
            }
        return self._names

    def stamped(self, session: Session, cycle_ids: Collection[int]) -> set[int]:
        """The cycles among these whose stored flags hold for this k and this tree."""
        unknown = sorted({c for c in cycle_ids if c not in self._stamped})
        if unknown:
            found = {
                cycle_id
                for (cycle_id,) in run_sql(
                    session,
                    f"SELECT cycle_id FROM suppression_stamps WHERE cycle_id IN "
                    f"({marks(len(unknown))}) AND threshold = ? AND tree_key = ?",
                    [*unknown, self.k, self.key],
                )
            }
            self._stamped.update((c, c in found) for c in unknown)
        return {c for c in cycle_ids if self._stamped[c]}

    def check(self, threshold: int) -> int:
        """The threshold a query was asked for, which must be this report's."""
        k = validate_threshold(threshold)
        if k != self.k:
            raise ValueError(f"this report was read at k = {self.k}, not {k}")
        return k


def report_context(
    session: Session, threshold: int, context: ReportContext | None
) -> ReportContext:
    """The context a query runs in: the one its report handed it (checked against the
    threshold it was asked for), or a new one of its own."""
    if context is None:
        return ReportContext.load(session, threshold=threshold)
    context.check(threshold)
    return context
