"""What the queries of one report share: each cycle's tree and thresholds, names, stamp checks."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from pulse.confidentiality import validate_threshold
from pulse.organisation.service import thresholds
from pulse.reporting.fast import marks, run_sql, tree_generation
from pulse.reporting.thresholds import cycle_thresholds
from pulse.reporting.trees import CycleTrees, TeamTree


@dataclass
class ReportContext:
    """Read once per report (a dashboard callback, an export) and handed to each query.

    A report asks several queries about the same cycles; they then share one read of each
    cycle's tree (its snapshot, pulse.reporting.trees) and thresholds (locked when it opened,
    pulse.reporting.thresholds) and one look at the cycles' suppression stamps. `k` is the
    scores threshold in force now; a cycle is reported at its own (`k_of`). Make a new context
    for every report, so nothing outlives the request that read it.
    """

    k: int
    trees: CycleTrees
    # Read with the tree as it is now (load).
    _names: dict[int, tuple[str, int | None]] = field(default_factory=dict, repr=False)
    _ks: dict[str, dict[int, int]] = field(default_factory=dict, repr=False)
    _settings: dict[str, int] = field(default_factory=dict, repr=False)
    _stamped: dict[int, bool] = field(default_factory=dict, repr=False)
    # The participation threshold each stamped cycle's `invited_hidden` flags hold for.
    _invited_k: dict[int, int | None] = field(default_factory=dict, repr=False)
    _names_in: dict[int, Mapping[int, tuple[str, int | None]]] = field(
        default_factory=dict, repr=False
    )
    # When each cycle asked about so far opened (filled by the queries).
    opened: dict[int, datetime] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        session: Session,
        *,
        threshold: int,
        participation: int | None = None,
        comments: int | None = None,
    ) -> ReportContext:
        """The settings in force now; trees and thresholds are read per cycle when needed.

        The participation and comments thresholds default to the organisation's settings
        (read only when either is not given).
        """
        k = validate_threshold(threshold)
        # The tree generation before the teams (see stamped), then the tree as it is now and
        # every group's name: one read of the teams serves both.
        generation = tree_generation(session)
        teams = run_sql(session, "SELECT id, name, parent_id FROM teams")
        context = cls(
            k=k,
            trees=CycleTrees(
                TeamTree({team_id: parent for team_id, _, parent in teams}), generation
            ),
            _names={team_id: (name, parent) for team_id, name, parent in teams},
        )
        settings = (
            {}
            if participation is not None and comments is not None
            else _org_thresholds(session, scores=k)
        )
        if participation is not None:
            settings["participation"] = validate_threshold(participation)
        if comments is not None:
            settings["comments"] = validate_threshold(comments)
        context._settings = {"scores": k, **settings}
        return context

    def need(self, session: Session, cycle_ids: Collection[int]) -> None:
        """Read the trees and thresholds of these cycles not read yet: checking their stamps
        does, and spares reading a snapshot known to equal the teams now (see stamped)."""
        self.stamped(session, cycle_ids)

    def _need_ks(self, session: Session, cycle_ids: Collection[int]) -> None:
        for kind, current in self._settings.items():
            known = self._ks.setdefault(kind, {})
            missing = [c for c in cycle_ids if c not in known]
            if missing:
                known.update(cycle_thresholds(session, missing, current=current, kind=kind))

    def tree(self, session: Session, cycle_id: int) -> TeamTree:
        """The tree the cycle is reported on."""
        self.need(session, [cycle_id])
        return self.trees.of(cycle_id)

    def k_of(self, session: Session, cycle_id: int, kind: str = "scores") -> int:
        """The cycle's threshold of this kind (the setting in force for an unknown cycle)."""
        known = self._ks.get(kind, {}).get(cycle_id)
        if known is not None:
            return known
        self._need_ks(session, [cycle_id])
        return self._ks[kind].get(cycle_id, self._settings[kind])

    def ks(
        self, session: Session, cycle_ids: Collection[int], kind: str = "scores"
    ) -> dict[int, int]:
        """k_of for each of these cycles."""
        if not all(c in self._ks.get(kind, {}) for c in cycle_ids):
            self._need_ks(session, cycle_ids)
        return {c: self._ks[kind].get(c, self._settings[kind]) for c in cycle_ids}

    def names(self, session: Session) -> dict[int, tuple[str, int | None]]:
        """Every group's name and parent as they are now, read with the tree when the report
        began (see load)."""
        return self._names

    def names_in(self, session: Session, cycle_id: int) -> Mapping[int, tuple[str, int | None]]:
        """Every group's name and parent as they stood in the cycle's snapshot (a group it
        lacks as it is now): a renamed or moved team keeps its old name and place there."""
        known = self._names_in.get(cycle_id)
        if known is None:
            self.need(session, [cycle_id])
            known = self._names_in[cycle_id] = _NamesThen(
                self.names(session), self.trees.names(cycle_id), self.trees.of(cycle_id).parents
            )
        return known

    def stamped(self, session: Session, cycle_ids: Collection[int]) -> set[int]:
        """The cycles among these whose stored flags hold for their k and their tree.

        A stamp made at the tree generation this report read its teams at, with the counter
        unchanged since, holds for the tree without reading the cycle's snapshot; any other
        is checked by its tree key (pulse.reporting.fast, "The tree generation").
        """
        unknown = sorted({c for c in cycle_ids if c not in self._stamped})
        if unknown:
            ks = self.ks(session, unknown)
            found = {}
            for cycle_id, threshold, key, invited_k, generation, current in run_sql(
                session,
                "SELECT cycle_id, threshold, tree_key, participation_threshold, "
                "tree_generation, snapshot_current "
                f"FROM suppression_stamps WHERE cycle_id IN ({marks(len(unknown))})",
                unknown,
            ):
                if threshold == ks[cycle_id]:
                    found[cycle_id] = (key, generation, current)
                self._invited_k[cycle_id] = invited_k
            now = self.trees.generation
            if now is not None and now != tree_generation(session):
                now = None
            unchanged = {c for c, (_, gen, _) in found.items() if now is not None and gen == now}
            # Reports read the tree of every cycle they ask about (a cycle not trusted is
            # decided on it): only a snapshot known to equal the teams now goes unread.
            self.trees.as_current(c for c in unchanged if found[c][2])
            self.trees.need(session, unknown)
            self._stamped.update(
                (c, c in unchanged or (c in found and found[c][0] == self.trees.of(c).key))
                for c in unknown
            )
        return {c for c in cycle_ids if self._stamped[c]}

    def invited_decided(self, session: Session, cycle_ids: Collection[int]) -> set[int]:
        """The stamped cycles among these whose stored `invited_hidden` flags hold for their
        participation threshold (pulse.reporting.stamps decides them with the rest)."""
        stamped = self.stamped(session, cycle_ids)
        ks = self.ks(session, stamped, kind="participation")
        return {c for c in stamped if self._invited_k.get(c) == ks[c]}

    def check(self, threshold: int) -> int:
        """The threshold a query was asked for, which must be this report's."""
        k = validate_threshold(threshold)
        if k != self.k:
            raise ValueError(f"this report was read at k = {self.k}, not {k}")
        return k


class _NamesThen(Mapping[int, tuple[str, int | None]]):
    """(name, parent) of each group in one cycle's snapshot, looked up on demand: a report
    over many cycles asks about a few groups in each, not the whole tree."""

    def __init__(
        self,
        now: Mapping[int, tuple[str, int | None]],
        names: Mapping[int, str],
        parents: Mapping[int, int | None],
    ) -> None:
        self._now, self._names, self._parents = now, names, parents

    def __getitem__(self, team_id: int) -> tuple[str, int | None]:
        name, parent = self._now.get(team_id, (None, None))
        then = self._names.get(team_id, name)
        if then is None:
            raise KeyError(team_id)
        return then, self._parents.get(team_id, parent)

    def __iter__(self) -> Iterator[int]:
        return iter(set(self._now) | set(self._names))

    def __len__(self) -> int:
        return len(set(self._now) | set(self._names))


def _org_thresholds(session: Session, *, scores: int) -> dict[str, int]:
    """The participation and comments thresholds in the organisation's settings."""
    found = thresholds(session, default=scores)
    # Comments are never shown from fewer people than scores are.
    return {"participation": found.participation, "comments": max(found.comments, scores)}


def report_context(
    session: Session, threshold: int, context: ReportContext | None
) -> ReportContext:
    """The context a query runs in: the one its report handed it (checked against the
    threshold it was asked for), or a new one of its own."""
    if context is None:
        return ReportContext.load(session, threshold=threshold)
    context.check(threshold)
    return context
