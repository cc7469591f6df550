"""Instrument health: Cronbach's alpha per theme per quarter on pooled person-level answers."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.models import Answer, Response
from pulse.instrument import THEMES, ItemDefinition
from pulse.scoring import recode
from pulse.stats import cronbach_alpha
from pulse.surveys.models import Cycle, CycleItem, Item

ALPHA_TARGET = 0.70
ALPHA_FLOOR = 0.60


@dataclass(frozen=True)
class ThemeReliability:
    quarter: str
    theme: str
    items: int
    responses: int
    alpha: float | None

    @property
    def status(self) -> str:
        """'low' below .60 (flagged), 'below target' under .70, 'ok', or 'too few'."""
        if self.alpha is None:
            return "too few"
        if self.alpha < ALPHA_FLOOR:
            return "low"
        if self.alpha < ALPHA_TARGET:
            return "below target"
        return "ok"


def quarter_of(cycle: Cycle) -> str:
    opened = cycle.opens_at
    return f"{opened.year}-Q{(opened.month - 1) // 3 + 1}"


def _definition(item: Item) -> ItemDefinition:
    return ItemDefinition(
        code=item.code,
        theme=item.theme,
        construct=item.construct,
        reverse=item.reverse,
        is_anchor=item.is_anchor,
        scale=item.scale,
        wording=item.wording,
        note=item.note,
    )


def theme_reliability(session: Session, *, min_responses: int) -> list[ThemeReliability]:
    """Alpha for every quarter × theme whose full module was asked, newest quarter first.

    A row is one response's recoded answers to the theme's items in a cycle that asked the
    whole module (rotating cycles on that theme, full cycles); rows are pooled across teams
    and cycles of the quarter, matched by item code. Alpha is left out (None) below
    `min_responses` complete rows: too few to say anything, and pooled across the organisation
    it never narrows to a team. Open cycles are sealed here as everywhere.
    """
    # Closed cycles only: an open cycle's count would move by one with each answer.
    cycles = list(session.scalars(select(Cycle).where(Cycle.status == "closed")))
    pooled: dict[tuple[str, str], list[list[float | None]]] = defaultdict(list)
    codes_of: dict[tuple[str, str], list[str]] = {}
    for cycle in cycles:
        themes = THEMES if cycle.module is None else (cycle.module,)
        items = list(
            session.scalars(
                select(Item)
                .join(CycleItem, CycleItem.item_id == Item.id)
                .where(CycleItem.cycle_id == cycle.id)
            )
        )
        answers: dict[str, dict[int, int | None]] = defaultdict(dict)
        for response_id, item_id, value in session.execute(
            select(Answer.response_id, Answer.item_id, Answer.value)
            .join(Response, Response.id == Answer.response_id)
            .where(Response.cycle_id == cycle.id)
        ):
            answers[response_id][item_id] = value
        for theme in themes:
            theme_items = sorted((i for i in items if i.theme == theme), key=lambda i: i.code)
            if len(theme_items) < 2:
                continue
            key = (quarter_of(cycle), theme)
            codes = [item.code for item in theme_items]
            if codes_of.setdefault(key, codes) != codes:
                continue  # a different item set cannot be pooled column by column
            definitions = [_definition(item) for item in theme_items]
            for values in answers.values():
                pooled[key].append(
                    [
                        recode(definition, values.get(item.id))
                        for definition, item in zip(definitions, theme_items, strict=True)
                    ]
                )
    results: list[ThemeReliability] = []
    for (quarter, theme), rows in pooled.items():
        complete = sum(1 for row in rows if all(value is not None for value in row))
        alpha: float | None = None
        if complete >= min_responses:
            computed = cronbach_alpha(rows)
            alpha = None if math.isnan(computed) else computed
        results.append(
            ThemeReliability(quarter, theme, len(codes_of[(quarter, theme)]), complete, alpha)
        )
    order = {theme: i for i, theme in enumerate(THEMES)}
    results.sort(key=lambda r: (r.quarter, -order.get(r.theme, 99)), reverse=True)
    return results
