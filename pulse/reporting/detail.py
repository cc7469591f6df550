"""Drill-down reports: item distributions, anchor trends and comments.

Each follows its cycle's one hiding pattern (pulse.reporting.pattern): where a group's scores
are hidden, or its cycle is still open, so are its items, anchors and comments.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment
from pulse.comments.masking import load_directory, mask
from pulse.confidentiality import round_mean, round_pct
from pulse.instrument import THEMES
from pulse.reporting.context import ReportContext, report_context
from pulse.reporting.models import ItemAggregate
from pulse.reporting.pattern import load_pattern, measure_hidden, measure_state
from pulse.reporting.rows import AnchorRow, CommentRow, ItemRow
from pulse.surveys.models import Item

# Built once, run on every report (pulse.reporting.fast, "Statements built once").
_CYCLES: BindParameter[list[int]] = bindparam("cycles", expanding=True)
_ITEMS = (
    select(
        ItemAggregate.team_id,
        ItemAggregate.cycle_id,
        ItemAggregate.item_id,
        ItemAggregate.n,
        ItemAggregate.distribution,
        ItemAggregate.top2_pct,
        ItemAggregate.suppressed,
        Item.code,
        Item.version,
        Item.wording,
        Item.theme,
    )
    .join(Item, Item.id == ItemAggregate.item_id)
    .where(
        ItemAggregate.cycle_id.in_(_CYCLES),
        ItemAggregate.team_id.in_(bindparam("teams", expanding=True)),
    )
)
_ANCHORS = (
    select(
        ItemAggregate.cycle_id,
        ItemAggregate.item_id,
        ItemAggregate.mean,
        ItemAggregate.suppressed,
        Item.theme,
    )
    .join(Item, Item.id == ItemAggregate.item_id)
    .where(
        ItemAggregate.team_id == bindparam("team"),
        ItemAggregate.cycle_id.in_(_CYCLES),
        Item.is_anchor,
    )
)


def item_rows(
    session: Session,
    *,
    team_ids: Collection[int],
    threshold: int,
    cycle_id: int | None = None,
    cycle_ids: Collection[int] | None = None,
    context: ReportContext | None = None,
) -> list[ItemRow]:
    """Raw answer distributions per item for drill-down, hidden wherever the group's scores are."""
    context = report_context(session, threshold, context)
    wanted = list(cycle_ids or []) + ([cycle_id] if cycle_id is not None else [])
    if not team_ids or not wanted:
        return []
    pattern = load_pattern(session, context=context, cycle_ids=wanted, team_ids=team_ids)
    found = session.execute(_ITEMS, {"cycles": wanted, "teams": list(team_ids)})
    hidden = measure_hidden(
        session, context=context, pattern=pattern, model=ItemAggregate, cell=ItemAggregate.item_id
    )
    rows = []
    for agg in found:
        state = pattern.state(agg.team_id, agg.cycle_id)
        if state is None and hidden(agg.team_id, agg.cycle_id, agg.item_id, agg.suppressed):
            state = measure_state(agg.n, pattern.k(agg.cycle_id))
        shown = state is None
        distribution = agg.distribution
        rows.append(
            ItemRow(
                team_id=agg.team_id,
                cycle_id=agg.cycle_id,
                item_code=agg.code,
                item_version=agg.version,
                wording=agg.wording,
                theme=agg.theme,
                n=agg.n if shown else None,
                distribution={int(v): int(c) for v, c in distribution.items()} if shown else None,
                top2_pct=round_pct(agg.top2_pct) if shown and agg.top2_pct is not None else None,
                suppressed=not shown,
                state=state,
                reason=None if state is None else pattern.text(state, agg.cycle_id),
            )
        )
    order = {theme: i for i, theme in enumerate((*THEMES, "enps"))}
    rows.sort(key=lambda r: (r.cycle_id, r.team_id, order.get(r.theme, 9), r.item_code))
    return rows


def anchor_rows(
    session: Session,
    *,
    team_id: int,
    threshold: int,
    cycle_ids: Collection[int],
    context: ReportContext | None = None,
) -> list[AnchorRow]:
    """The mean answer to each theme's anchor item per cycle, for trends; hidden like items."""
    context = report_context(session, threshold, context)
    wanted = sorted(cycle_ids)
    if not wanted:
        return []
    pattern = load_pattern(session, context=context, cycle_ids=wanted, team_ids=[team_id])
    hidden = measure_hidden(
        session, context=context, pattern=pattern, model=ItemAggregate, cell=ItemAggregate.item_id
    )
    found = session.execute(_ANCHORS, {"team": team_id, "cycles": wanted})
    rows = []
    for cycle, item, mean, stored, theme in found:
        visible = mean is not None and not hidden(team_id, cycle, item, stored)
        shown = round_mean(mean) if visible and mean is not None else None
        rows.append(AnchorRow(cycle_id=cycle, theme=theme, mean=shown))
    return rows


def comment_rows(
    session: Session,
    *,
    team_id: int,
    cycle_id: int,
    threshold: int,
    rng: random.Random,
    context: ReportContext | None = None,
) -> list[CommentRow]:
    """Comments of a group's subtree: only where its scores may be shown and at least the
    comments threshold answered, shuffled.

    The same pattern as scores, and complementary hiding at the comments threshold: a
    department's comments minus its visible teams' comments must never single out a hidden
    team's few comments, and an open cycle shows none, so a new comment cannot be told from
    the ones before it. The subtree is the cycle's own (its snapshot). Names from the
    directory, emails and phones are masked before the rows leave (INSTRUMENT.md).
    """
    context = report_context(session, threshold, context)
    pattern = load_pattern(
        session, context=context, cycle_ids=[cycle_id], team_ids=[team_id], comments=True
    )
    if pattern.comments_hidden(team_id, cycle_id):
        return []
    subtree = context.tree(session, cycle_id).subtree(team_id)
    found = session.execute(
        select(Comment.id, Comment.theme, Comment.body)
        .where(Comment.cycle_id == cycle_id, Comment.team_id.in_(sorted(subtree)))
        .order_by(Comment.id)
    )
    # Masked here, on the way out, so that every surface a leader reads shows the same text.
    directory = load_directory(session)
    kept = [
        CommentRow(theme=theme, body=mask(body.strip(), directory), handle=comment_id)
        for comment_id, theme, body in found
        if body.strip()
    ]
    rng.shuffle(kept)
    return kept
