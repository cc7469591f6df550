"""What the disclosure audit reads: every figure a role can obtain, as a linear figure.

The dashboard, its CSV downloads, the admin's cycle pages and `pulse report export` read
reports through pulse.reporting.queries, so the audit calls exactly those functions, with
each role's team ids, and turns every exact figure a row carries into the set of teams whose
own respondents it counts (a group's subtree in the cycle's snapshot, or the organisation
minus one team for "Rest of organisation"). The one surface that reads answers another way,
the admin's instrument page (pulse.reporting.instrument_health), pools a quarter across
cycles and teams; it is no figure of one cycle, so it is not gathered here.

Nothing here trusts the hiding logic it audits: which groups are hidden is read from what
the admin's rows leave out and who has respondents from storage (pulse.reporting.audit_facts),
so a figure that slips through any query is counted as published whatever the pattern meant.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.confidentiality import round_pct
from pulse.people.models import Person, RoleGrant
from pulse.reporting.audit_facts import (
    COMMENTS,
    FROM_RATE,
    INVITED,
    RESPONDED,
    Figure,
    Measure,
    StateFacts,
    read_facts,
    subtrees_of,
)
from pulse.reporting.context import ReportContext
from pulse.reporting.pattern import OPEN, coarse_rate
from pulse.reporting.queries import (
    ParticipationRow,
    ThemeRow,
    anchor_rows,
    comment_rows,
    compare_rows,
    cycles_for,
    item_rows,
    participation_rows,
    theme_rows,
)
from pulse.surveys.models import Cycle, CycleItem, Item
from pulse.teams.models import Team
from pulse.teams.service import visible_team_ids


class UnknownPerson(LookupError):
    """The audit was asked about the role of an email nobody has."""


@dataclass(frozen=True)
class Role:
    """Whoever sees a given set of teams: the admin (every team) or one leader."""

    name: str
    team_ids: frozenset[int]


@dataclass
class RoleView:
    """Everything one role obtained in one state."""

    # Each exact figure, with the words for the rows it came from.
    figures: dict[Figure, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Coarse rates that fit several counts: (cycle, group, rate, invited).
    inexact: set[tuple[int, int, int, int | None]] = field(default_factory=set)
    # (cycle, measure, group) whose own row carries the exact figure.
    shown: set[tuple[int, Measure, int]] = field(default_factory=set)
    # (cycle, measure, group) → the state its row gives for hiding it.
    states: dict[tuple[int, Measure, int], str] = field(default_factory=dict)

    def add(self, figure: Figure, source: str, *, group: int | None = None) -> None:
        self.figures[figure].add(source)
        if group is not None:
            self.shown.add((figure.cycle_id, figure.measure, group))

    def merge(self, other: RoleView) -> None:
        for figure, sources in other.figures.items():
            self.figures[figure] |= sources
        self.inexact |= other.inexact
        self.shown |= other.shown
        self.states.update(other.states)


def admin_role(session: Session) -> Role:
    """The admin's role: every team (as visible_team_ids gives any admin)."""
    return Role("admin", frozenset(session.scalars(select(Team.id))))


def audit_roles(session: Session, *, role_of: str | None = None) -> list[Role]:
    """The admin's role and each active leader's (a leader who is admin too sees what the
    admin sees), or only the role of the person with email `role_of`."""
    admin = admin_role(session)
    if role_of is not None:
        person = session.scalar(
            select(Person).where(func.lower(Person.email) == role_of.strip().lower())
        )
        if person is None:
            raise UnknownPerson(f"nobody has the email {role_of!r}")
        if person.is_admin and person.active:
            return [admin]
        kind = "leader" if person.led_team_ids else "person"
        return [Role(f"{kind} {person.email}", frozenset(visible_team_ids(session, person=person)))]
    leaders = session.scalars(
        select(Person)
        .where(Person.active.is_(True), Person.id.in_(select(RoleGrant.person_id)))
        .order_by(Person.email)
    )
    return [admin] + [
        Role(f"leader {p.email}", frozenset(visible_team_ids(session, person=p)))
        for p in leaders
        if p.led_team_ids and not p.is_admin
    ]


def fitting_counts(rate: int, invited: int, *, is_open: bool) -> list[int]:
    """The respondent counts 0..invited that show as this rate beside this number invited:
    an open cycle's coarse rate (steps rounded down) or a closed cycle's whole percent."""
    if invited <= 0:
        return []
    if is_open:
        return [r for r in range(invited + 1) if coarse_rate(r, invited) == rate]
    return [r for r in range(invited + 1) if round_pct(100.0 * r / invited) == rate]


class _Reader:
    """One state's reads, shared by every role: the per-team reports (compare, comments,
    anchors) do not depend on who asks, so each is read once and handed to every role that
    may see that team."""

    def __init__(self, session: Session, context: ReportContext, cycles: Sequence[int]):
        self.session, self.context, self.cycles = session, context, list(cycles)
        self.k = context.k
        self._subtrees: dict[int, dict[int, frozenset[int]]] = {}
        self._per_team: dict[int, RoleView] = {}
        self.item_ids = {
            (code, version): item_id
            for item_id, code, version in session.execute(select(Item.id, Item.code, Item.version))
        }
        self.anchors = {
            (cycle_id, theme): item_id
            for cycle_id, theme, item_id in session.execute(
                select(CycleItem.cycle_id, Item.theme, Item.id)
                .join(Item, Item.id == CycleItem.item_id)
                .where(Item.is_anchor)
            )
        }

    def subtrees(self, cycle_id: int) -> dict[int, frozenset[int]]:
        found = self._subtrees.get(cycle_id)
        if found is None:
            found = self._subtrees[cycle_id] = subtrees_of(
                self.context.tree(self.session, cycle_id).parents
            )
        return found

    def subtree(self, cycle_id: int, group: int) -> frozenset[int]:
        return self.subtrees(cycle_id).get(group, frozenset({group}))

    def theme(self, view: RoleView, row: ThemeRow, source: str) -> None:
        measure = Measure("theme", row.theme)
        if row.n is None:
            view.states[(row.cycle_id, measure, row.team_id)] = row.state or "hidden"
            return
        figure = Figure(row.cycle_id, measure, self.subtree(row.cycle_id, row.team_id))
        view.add(figure, source, group=row.team_id)

    def participation(self, view: RoleView, row: ParticipationRow) -> None:
        cycle, team = row.cycle_id, row.team_id
        members = self.subtree(cycle, team)
        if row.invited is not None:
            view.add(Figure(cycle, INVITED, members), "number invited", group=team)
        else:
            view.states[(cycle, INVITED, team)] = row.state or "hidden"
        if row.responded is not None:
            view.add(Figure(cycle, RESPONDED, members), "number who answered", group=team)
            return
        view.states[(cycle, RESPONDED, team)] = row.state or "hidden"
        if row.rate is None:
            return
        fits = (
            []
            if row.invited is None
            else fitting_counts(row.rate, row.invited, is_open=row.state == OPEN)
        )
        if len(fits) == 1:
            # The rate beside the number invited leaves one possible count: it is that count.
            view.add(Figure(cycle, RESPONDED, members), FROM_RATE)
        else:
            view.inexact.add((cycle, team, row.rate, row.invited))

    def per_team(self, team: int) -> RoleView:
        """Compare rows, comments and anchors of one team in every cycle."""
        found = self._per_team.get(team)
        if found is not None:
            return found
        view = RoleView()
        session, k, context = self.session, self.k, self.context
        # The dashboard serves a team's comparison and comments only for its cycles
        # (Viewer.cycle), so asking about any other cycle would only cost time.
        for cycle in [c.id for c in cycles_for(session, team_ids=[team])]:
            seen: set[tuple[int, str]] = set()
            for row in compare_rows(
                session, team_id=team, cycle_id=cycle, threshold=k, context=context
            ):
                if (row.team_id, row.theme) not in seen:
                    seen.add((row.team_id, row.theme))
                    self.theme(view, row, "comparison")
                elif row.n is not None:
                    # The second row of the organisation is the rest of it without the team.
                    rest = Figure(
                        cycle,
                        Measure("theme", row.theme),
                        self.subtree(cycle, row.team_id),
                        self.subtree(cycle, team),
                    )
                    view.add(rest, "rest of organisation")
            shown = comment_rows(
                session, team_id=team, cycle_id=cycle, threshold=k, rng=random.Random(0)
            )
            if shown:
                view.add(Figure(cycle, COMMENTS, self.subtree(cycle, team)), "comments", group=team)
        for anchor in anchor_rows(
            session, team_id=team, threshold=k, cycle_ids=self.cycles, context=context
        ):
            item = self.anchors.get((anchor.cycle_id, anchor.theme))
            if anchor.mean is not None and item is not None:
                figure = Figure(
                    anchor.cycle_id, Measure("item", item), self.subtree(anchor.cycle_id, team)
                )
                view.add(figure, "anchor trend", group=team)
        self._per_team[team] = view
        return view

    def view(self, role: Role) -> RoleView:
        """Everything the role can obtain through the report queries in this state."""
        view = RoleView()
        ids = sorted(role.team_ids)
        if not ids or not self.cycles:
            return view
        session, k, context, cycles = self.session, self.k, self.context, self.cycles
        for row in theme_rows(
            session, team_ids=ids, threshold=k, cycle_ids=cycles, context=context
        ):
            self.theme(view, row, "theme scores")
        for item in item_rows(
            session, team_ids=ids, threshold=k, cycle_ids=cycles, context=context
        ):
            measure = Measure("item", self.item_ids[(item.item_code, item.item_version)])
            if item.n is None:
                view.states[(item.cycle_id, measure, item.team_id)] = item.state or "hidden"
                continue
            figure = Figure(item.cycle_id, measure, self.subtree(item.cycle_id, item.team_id))
            view.add(figure, "item distribution", group=item.team_id)
        for part in participation_rows(
            session, team_ids=ids, threshold=k, cycle_ids=cycles, context=context
        ):
            self.participation(view, part)
        for team in ids:
            view.merge(self.per_team(team))
        return view


def gather_state(
    session: Session, *, threshold: int, roles: Sequence[Role]
) -> tuple[dict[str, RoleView], RoleView, StateFacts]:
    """Each role's view of the state as it is now, the admin's view (which decides what is
    hidden: what the admin, who sees every team, is not shown), and the stored facts."""
    context = ReportContext.load(session, threshold=threshold)
    cycles = list(session.scalars(select(Cycle.id).order_by(Cycle.opens_at, Cycle.id)))
    reader = _Reader(session, context, cycles)
    views = {role.name: reader.view(role) for role in roles}
    admin = views.get("admin") or reader.view(admin_role(session))
    return views, admin, read_facts(session, context, reader.subtrees)
