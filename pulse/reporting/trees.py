"""The team tree each cycle is reported on: the snapshot taken when it opened.

A cycle's figures are rolled up, hidden and compared on the tree as it stood when the cycle
opened (pulse.surveys.models.CycleTeam), never on the tree as it is now: a moved team would
otherwise make a department's stored figures describe one tree while hiding is decided on
another, and their difference would give away a hidden team. Later moves, renames and
archiving apply to later cycles only.

Most cycles of an organisation share one tree, so cycles whose snapshots are equal share one
TeamTree object: its chains are walked once, and code that works on many cycles at once
handles each distinct tree together (CycleTrees.partition).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.reporting.fast import marks, run_sql, tree_generation
from pulse.surveys.models import CycleTeam
from pulse.teams.models import Team

IntArray = npt.NDArray[np.int64]
Parents = Mapping[int, int | None]


def tree_key(parents: Parents) -> str:
    """A digest of a tree: equal exactly when every team has the same parent."""
    text = ";".join(
        f"{team}:{'' if parent is None else parent}" for team, parent in sorted(parents.items())
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class TeamTree:
    """Each team's chain of groups it reports into: itself, its parent, … up to the top."""

    parents: dict[int, int | None]
    # Chains already walked: a run expands the same teams for scores, items and participation.
    _chains: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, session: Session) -> TeamTree:
        """The tree as it is now, in one query."""
        return cls(dict(run_sql(session, "SELECT id, parent_id FROM teams")))

    @cached_property
    def key(self) -> str:
        """The tree's digest (tree_key), worked out once."""
        return tree_key(self.parents)

    def chain(self, team_id: int) -> list[int]:
        """The team and its ancestors, nearest first."""
        known = self._chains.get(team_id)
        if known is not None:
            return list(known)
        chain = [team_id]
        current = self.parents.get(team_id)
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parents.get(current)
        self._chains[team_id] = chain
        return list(chain)

    def subtree(self, team_id: int) -> set[int]:
        """The team and every group below it."""
        return {team for team in self.parents if team_id in self.chain(team)} | {team_id}

    def expand(self, teams: IntArray) -> tuple[IntArray, IntArray]:
        """For rows filed under `teams`, (row index, group) pairs for every group they count in."""
        unique, inverse = np.unique(teams, return_inverse=True)
        chains = [self.chain(int(t)) for t in unique]
        depth = max((len(c) for c in chains), default=0)
        table = np.full((len(unique), depth), -1, dtype=np.int64)
        for i, chain in enumerate(chains):
            table[i, : len(chain)] = chain
        rows: list[IntArray] = []
        groups: list[IntArray] = []
        for level in range(depth):
            at_level = table[inverse.reshape(-1), level]
            present = np.nonzero(at_level >= 0)[0]
            rows.append(present)
            groups.append(at_level[present])
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(rows), np.concatenate(groups)


@dataclass
class CycleTrees:
    """The tree of each cycle asked about: its snapshot, over the tree as it is now.

    A team the snapshot lacks (a cycle opened before snapshots were kept, or rows written
    outside the invitation path) keeps its place in the tree as it is now; groups with no
    respondents in a cycle add nothing to its figures, so they change nothing either.
    """

    current: TeamTree
    # The tree generation read before `current` (pulse.reporting.fast); None: not read.
    generation: int | None = None
    _snapshots: dict[int, dict[int, int | None]] = field(default_factory=dict, repr=False)
    _names: dict[int, dict[int, str]] = field(default_factory=dict, repr=False)
    _trees: dict[int, TeamTree] = field(default_factory=dict, repr=False)
    _shared: dict[tuple[tuple[int, int | None], ...], TeamTree] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def load(cls, session: Session, cycle_ids: Collection[int] | None = None) -> CycleTrees:
        """The current tree and the snapshots of these cycles (None: every cycle)."""
        # The generation first: a change after it makes it older than the trees, never newer.
        generation = tree_generation(session)
        trees = cls(TeamTree.load(session), generation)
        trees.need(session, cycle_ids)
        return trees

    def need(self, session: Session, cycle_ids: Collection[int] | None) -> None:
        """Read the snapshots of these cycles not read yet (None: every cycle)."""
        if cycle_ids is None:
            found = run_sql(session, "SELECT cycle_id, team_id, parent_id, name FROM cycle_teams")
        else:
            wanted = sorted({c for c in cycle_ids if c not in self._trees})
            if not wanted:
                return
            found = run_sql(
                session,
                "SELECT cycle_id, team_id, parent_id, name FROM cycle_teams "
                f"WHERE cycle_id IN ({marks(len(wanted))})",
                wanted,
            )
            for cycle_id in wanted:
                self._snapshots.setdefault(cycle_id, {})
        for cycle_id, team_id, parent_id, name in found:
            self._snapshots.setdefault(cycle_id, {})[team_id] = parent_id
            self._names.setdefault(cycle_id, {})[team_id] = name
        self._grow()

    def as_current(self, cycle_ids: Iterable[int]) -> None:
        """Take these cycles' trees and names to be the current ones, without reading their
        snapshots: for cycles whose snapshot is known to equal the teams now (fast.py)."""
        wanted = [cycle_id for cycle_id in cycle_ids if cycle_id not in self._trees]
        if not wanted:
            return
        # The current tree itself, shared by them all: nothing to copy or sort.
        for cycle_id in wanted:
            self._snapshots[cycle_id] = {}
            self._names[cycle_id] = {}
            self._trees[cycle_id] = self.current

    @classmethod
    def of_snapshots(
        cls, current: TeamTree, snapshots: Mapping[int, Mapping[int, int | None]]
    ) -> CycleTrees:
        """Trees from snapshots already in hand (cycle → team → parent)."""
        trees = cls(current)
        trees._snapshots.update({c: dict(parents) for c, parents in snapshots.items()})
        trees._grow()
        return trees

    def _grow(self) -> None:
        for cycle_id, snapshot in self._snapshots.items():
            if cycle_id not in self._trees:
                self._trees[cycle_id] = self._share({**self.current.parents, **snapshot})

    def _share(self, parents: dict[int, int | None]) -> TeamTree:
        frozen = tuple(sorted(parents.items()))
        tree = self._shared.get(frozen)
        if tree is None:
            tree = self._shared[frozen] = TeamTree(parents)
        return tree

    def of(self, cycle_id: int) -> TeamTree:
        """The tree cycle `cycle_id` is reported on (read with load or need first)."""
        tree = self._trees.get(cycle_id)
        if tree is None:
            # Never read: no snapshot to honour yet, so the tree as it is now.
            tree = self._trees[cycle_id] = self._share(dict(self.current.parents))
        return tree

    def names(self, cycle_id: int) -> dict[int, str]:
        """The names teams had in the cycle's snapshot (read with load or need first)."""
        return self._names.get(cycle_id, {})

    def partition(
        self, cycle_ids: Iterable[int], ks: Mapping[int, int] | None = None
    ) -> list[tuple[TeamTree, int, list[int]]]:
        """The cycles grouped by the tree they are reported on and their threshold in `ks`
        (0 for all without), as (tree, k, cycles in ascending order)."""
        groups: dict[tuple[int, int], tuple[TeamTree, int, list[int]]] = {}
        for cycle_id in sorted(set(cycle_ids)):
            tree = self.of(cycle_id)
            k = 0 if ks is None else ks[cycle_id]
            groups.setdefault((id(tree), k), (tree, k, []))[2].append(cycle_id)
        return list(groups.values())

    def expand(self, teams: IntArray, cycles: IntArray) -> tuple[IntArray, IntArray]:
        """For rows filed under (team, cycle), (row index, group) pairs for every group each
        row counts in on its own cycle's tree."""
        parts = self.partition(np.unique(cycles).tolist())
        if len(parts) == 1:
            return parts[0][0].expand(teams)
        rows: list[IntArray] = [np.empty(0, np.int64)]
        groups: list[IntArray] = [np.empty(0, np.int64)]
        for tree, _, part in parts:
            chosen = np.flatnonzero(np.isin(cycles, part))
            found, group = tree.expand(teams[chosen])
            rows.append(chosen[found])
            groups.append(group)
        return np.concatenate(rows), np.concatenate(groups)


def snapshot_tree(session: Session, *, cycle_id: int) -> int:
    """Add every team not yet in the cycle's snapshot, as it stands now; returns how many.

    Called when a cycle opens and whenever people are invited to it, so a team created while
    the cycle is open joins the snapshot with its first invitation. Rows already in the
    snapshot are never changed: that is what keeps a cycle's figures on its own tree.
    """
    known = set(session.scalars(select(CycleTeam.team_id).where(CycleTeam.cycle_id == cycle_id)))
    added = 0
    for team_id, parent_id, name, kind in session.execute(
        select(Team.id, Team.parent_id, Team.name, Team.kind)
    ):
        if team_id not in known:
            session.add(
                CycleTeam(
                    cycle_id=cycle_id, team_id=team_id, parent_id=parent_id, name=name, kind=kind
                )
            )
            added += 1
    session.flush()
    return added
