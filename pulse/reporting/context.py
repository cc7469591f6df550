"""What the queries of one report share: the threshold, the tree and names, stamp checks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.confidentiality import validate_threshold
from pulse.reporting.compute import TeamTree
from pulse.reporting.models import SuppressionStamp
from pulse.reporting.stamps import tree_key
from pulse.teams.models import Team


@dataclass
class ReportContext:
    """Read once per report (a dashboard callback, an export) and handed to each query.

    A report asks several queries about the same cycles; they then share one read of the
    tree and one look at the cycles' suppression stamps. Make a new one for every report, so
    nothing outlives the request that read it.
    """

    k: int
    names: dict[int, tuple[str, int | None]]
    tree: TeamTree
    key: str
    _stamped: dict[int, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, session: Session, *, threshold: int) -> ReportContext:
        """The tree, names and threshold as they are now."""
        k = validate_threshold(threshold)
        names = {
            team_id: (name, parent)
            for team_id, name, parent in session.execute(select(Team.id, Team.name, Team.parent_id))
        }
        tree = TeamTree({team_id: parent for team_id, (_, parent) in names.items()})
        return cls(k=k, names=names, tree=tree, key=tree_key(tree.parents))

    def stamped(self, session: Session, cycle_ids: Collection[int]) -> set[int]:
        """The cycles among these whose stored flags hold for this k and this tree."""
        unknown = sorted({c for c in cycle_ids if c not in self._stamped})
        if unknown:
            found = set(
                session.scalars(
                    select(SuppressionStamp.cycle_id).where(
                        SuppressionStamp.cycle_id.in_(unknown),
                        SuppressionStamp.threshold == self.k,
                        SuppressionStamp.tree_key == self.key,
                    )
                )
            )
            self._stamped.update((c, c in found) for c in unknown)
        return {c for c in cycle_ids if self._stamped[c]}

    def check(self, threshold: int) -> int:
        """The threshold a query was asked for, which must be this report's."""
        k = validate_threshold(threshold)
        if k != self.k:
            raise ValueError(f"this report was read at k = {self.k}, not {k}")
        return k
