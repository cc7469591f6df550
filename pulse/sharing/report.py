"""One team's report of one closed cycle, read through the reporting queries only.

Every figure comes from pulse.reporting.queries, the door the dashboard reads through, so the
report hides exactly what the dashboard hides (INSTRUMENT.md: thresholds, complementary
hiding, honest states). The leader's page, its PDF and the team's shared page all render this
one structure; only the leader's carries comments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.actions.service import STATUS_LABELS, list_actions
from pulse.instrument import (
    ENPS_THEME,
    FAVOURABLE_LABELS,
    SCALE_LABELS,
    THEME_HIGHER_IS_BETTER,
    THEME_LABELS,
)
from pulse.reporting.queries import (
    CommentRow,
    ItemRow,
    ParticipationRow,
    ReportContext,
    ThemeRow,
    comment_rows,
    item_rows,
    participation_rows,
    reverse_worded,
    theme_rows,
)
from pulse.reporting.wording import favourable_pct, is_reverse
from pulse.surveys.models import Cycle


@dataclass(frozen=True)
class ThemeView:
    """A theme's row with the words and positions a page needs to draw it."""

    row: ThemeRow
    label: str
    favourable_label: str
    higher_is_better: bool

    @property
    def shown(self) -> bool:
        return not self.row.suppressed and self.row.mean is not None

    def position(self, value: float | None) -> float:
        """Where a value on the 1–5 scale sits along a bar, in percent."""
        return 0.0 if value is None else max(0.0, min(100.0, (value - 1.0) / 4.0 * 100.0))

    @property
    def change_text(self) -> str | None:
        """A flag in words, with what it was compared to where the data says."""
        row = self.row
        if row.change not in ("up", "down"):
            return None
        better = (row.change == "up") == self.higher_is_better
        words = f"{'Up' if row.change == 'up' else 'Down'} ({'better' if better else 'worse'})"
        if row.baseline_mean is not None and row.baseline_cycles:
            plural = "s" if row.baseline_cycles != 1 else ""
            words += f": compared with {row.baseline_mean:.1f} over the {row.baseline_cycles}"
            words += f" earlier cycle{plural}"
        if row.delta is not None and row.delta_low is not None and row.delta_high is not None:
            interval = f"{row.delta_low:+.1f} to {row.delta_high:+.1f}"
            words += f", a change of {row.delta:+.1f} ({interval})"
        return words


@dataclass(frozen=True)
class ItemView:
    """An item's answer distribution; shares in whole percent where shown."""

    row: ItemRow
    theme_label: str
    # Agreeing with it is unfavourable; `favourable` counts answers at 1–2 then (wording).
    reverse: bool = False
    favourable: int | None = None

    @property
    def shares(self) -> list[tuple[int, str, int, int]]:
        """(value, label, count, percent) for each answer (1..5, or 0..10 for the
        recommendation item), or [] where hidden."""
        dist = self.row.distribution
        if not dist:
            return []
        total = sum(dist.values()) or 1
        values = range(0, 11) if self.row.theme == ENPS_THEME else range(1, 6)
        return [
            (v, SCALE_LABELS.get(v, str(v)), dist.get(v, 0), round(100 * dist.get(v, 0) / total))
            for v in values
        ]


@dataclass(frozen=True)
class TeamReport:
    """Everything one report shows; `comments` is None where comments are not part of it."""

    team_id: int
    team: str
    cycle_id: int
    opened: date
    closed: date
    k: int
    participation: ParticipationRow | None
    themes: list[ThemeView]
    items: list[ItemView]
    actions: list[TeamAction]
    comments: list[CommentRow] | None = field(default=None)

    @property
    def status_labels(self) -> dict[str, str]:
        return STATUS_LABELS


def build_team_report(
    session: Session,
    *,
    team_id: int,
    cycle: Cycle,
    threshold: int,
    with_comments: bool,
    rng: random.Random | None = None,
) -> TeamReport:
    """The report of `team_id` for a closed `cycle`, hidden wherever the dashboard hides."""
    if cycle.status != "closed":
        raise ValueError("a report is made only of a closed cycle")
    context = ReportContext.load(session, threshold=threshold)
    teams, cycles = [team_id], [cycle.id]
    themes = [
        ThemeView(
            row=row,
            label=THEME_LABELS[row.theme],
            favourable_label=FAVOURABLE_LABELS[row.theme],
            higher_is_better=THEME_HIGHER_IS_BETTER[row.theme],
        )
        for row in theme_rows(
            session, team_ids=teams, threshold=threshold, cycle_ids=cycles, context=context
        )
        if row.team_id == team_id
    ]
    participation = next(
        (
            row
            for row in participation_rows(
                session, team_ids=teams, threshold=threshold, cycle_ids=cycles, context=context
            )
            if row.team_id == team_id
        ),
        None,
    )
    reverse = reverse_worded(session)
    items = [
        ItemView(
            row=row,
            theme_label=THEME_LABELS.get(row.theme, "Recommendation"),
            reverse=is_reverse(row, reverse),
            favourable=favourable_pct(row, reverse),
        )
        for row in item_rows(
            session, team_ids=teams, threshold=threshold, cycle_id=cycle.id, context=context
        )
        if row.team_id == team_id
    ]
    comments = None
    if with_comments:
        comments = comment_rows(
            session,
            team_id=team_id,
            cycle_id=cycle.id,
            threshold=threshold,
            rng=rng or random.Random(),
            context=context,
        )
    # What the team agreed: this cycle's actions and earlier ones still under way; a dropped
    # action is no longer an agreement.
    actions = [
        action
        for action in list_actions(session, team_id=team_id)
        if action.status != "dropped"
        and (action.cycle_id == cycle.id or action.status in ("planned", "in_progress"))
    ]
    closed = cycle.closed_at or cycle.closes_at
    return TeamReport(
        team_id=team_id,
        team=context.names_in(session, cycle.id)[team_id][0],
        cycle_id=cycle.id,
        opened=cycle.opens_at.date(),
        closed=closed.date(),
        k=context.k_of(session, cycle.id),
        participation=participation,
        themes=themes,
        items=items,
        actions=actions,
        comments=comments,
    )
