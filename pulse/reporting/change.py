"""Change flags: which earlier cycle a cycle is compared with, and the flags themselves.

A group's theme score in a cycle is compared with the latest earlier cycle of the same
schedule that asked exactly the same items of that theme (INSTRUMENT.md: "same item set").
In the rotating program this is the previous cycle for a theme asked by its anchor alone and
the cycle three back for the theme's full module, so a full module is never compared with an
anchor-only cycle. Tests run on stored n, mean and sd (Welch from summaries), with
Benjamini–Hochberg across all group × theme tests of the cycle.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.instrument import THEMES
from pulse.reporting.compute import THEME_INDEX, ThemeStats, asked_items
from pulse.reporting.models import ThemeAggregate
from pulse.scoring import ChangeFlag, Summary, SummaryChangeTest, change_flags_from_summaries
from pulse.surveys.models import Cycle

FlagKey = tuple[int, int, int]  # group, cycle, theme index


def comparison_cycles(
    session: Session, *, cycle_ids: Collection[int]
) -> dict[tuple[int, str], int]:
    """(cycle, theme) → the earlier cycle it is compared with, where there is one."""
    if not cycle_ids:
        return {}
    wanted = select(Cycle.schedule_id).where(Cycle.id.in_(list(cycle_ids)))
    cycles: list[tuple[int, int | None, datetime]] = list(
        session.execute(
            select(Cycle.id, Cycle.schedule_id, Cycle.opens_at).where(Cycle.schedule_id.in_(wanted))
        )
    )
    asked = asked_items(session, cycle_ids=[c for c, _, _ in cycles])
    by_schedule: dict[int, list[tuple[datetime, int]]] = {}
    for cycle_id, schedule_id, opens in cycles:
        if schedule_id is not None:
            by_schedule.setdefault(schedule_id, []).append((opens, cycle_id))
    result: dict[tuple[int, str], int] = {}
    for history in by_schedule.values():
        history.sort()
        for position, (_, cycle_id) in enumerate(history):
            if cycle_id not in cycle_ids:
                continue
            for theme in THEMES:
                items = asked.get((cycle_id, theme))
                if not items:
                    continue
                for _, earlier in reversed(history[:position]):
                    if asked.get((earlier, theme)) == items:
                        result[(cycle_id, theme)] = earlier
                        break
    return result


def flag_changes(
    session: Session, stats: ThemeStats, *, k: int, cycle_ids: Collection[int]
) -> dict[FlagKey, ChangeFlag]:
    """Flags for the testable group × themes of `cycle_ids` in `stats` (absent: no change).

    Earlier cycles' figures come from `stats` when it holds them, else from stored aggregates.
    """
    if not cycle_ids:
        return {}
    compared = comparison_cycles(session, cycle_ids=cycle_ids)
    groups, cycles, themes = stats.group.tolist(), stats.cycle.tolist(), stats.theme.tolist()
    ns, means, sds = stats.n.tolist(), stats.mean.tolist(), stats.sd.tolist()
    index = {key: i for i, key in enumerate(zip(groups, cycles, themes, strict=True))}
    stored: dict[FlagKey, Summary] = {}
    earlier = set(compared.values()) - set(cycles)
    if earlier:
        query = select(
            ThemeAggregate.team_id,
            ThemeAggregate.cycle_id,
            ThemeAggregate.theme,
            ThemeAggregate.n,
            ThemeAggregate.mean,
            ThemeAggregate.sd,
        ).where(ThemeAggregate.cycle_id.in_(sorted(earlier)), ThemeAggregate.n >= k)
        for group, stored_cycle, theme_name, n, mean, sd in session.execute(query):
            stored[(group, stored_cycle, THEME_INDEX[theme_name])] = Summary(
                n, math.nan if mean is None else mean, math.nan if sd is None else sd
            )

    def summary(key: FlagKey) -> Summary | None:
        i = index.get(key)
        if i is None:
            return stored.get(key)
        return Summary(ns[i], means[i], sds[i])

    # Only comparisons that can be tested are built: both cycles at n >= k, same item set.
    # Everything else reads "no detectable change" and stays out of the FDR family.
    by_cycle: dict[int, list[tuple[FlagKey, SummaryChangeTest]]] = {}
    for i, key in enumerate(zip(groups, cycles, themes, strict=True)):
        group, cycle_id, theme = key
        if cycle_id not in cycle_ids or ns[i] < k:
            continue
        before_cycle = compared.get((cycle_id, THEMES[theme]))
        before = summary((group, before_cycle, theme)) if before_cycle is not None else None
        if before is None or before.n < k:
            continue
        test = SummaryChangeTest(
            team_id=group,
            theme=THEMES[theme],
            previous=before,
            current=Summary(ns[i], means[i], sds[i]),
            same_item_set=True,
            threshold=k,
        )
        by_cycle.setdefault(cycle_id, []).append((key, test))
    flags: dict[FlagKey, ChangeFlag] = {}
    for tests in by_cycle.values():
        decided = change_flags_from_summaries([test for _, test in tests])
        flags.update(zip([key for key, _ in tests], decided, strict=True))
    return flags
