"""The "rest of the organisation" figure: the organisation's aggregate without one team."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, TypeAlias

from scipy import stats as sps
from sqlalchemy import Row

from pulse.reporting.models import ThemeAggregate
from pulse.stats import wilson_interval

# A stored aggregate, as an entity or as a plain row of its table.
ThemeFigures: TypeAlias = ThemeAggregate | Row[Any]


@lru_cache(maxsize=1024)
def _t_975(degrees: int) -> float:
    # The same quantile for every report of a given size: computed once per size.
    return float(sps.t.ppf(0.975, degrees))


def _sum_of_squares(agg: ThemeFigures) -> float:
    mean = agg.mean or 0.0
    spread = 0.0 if agg.n < 2 or agg.sd is None else (agg.n - 1) * agg.sd**2
    return spread + agg.n * mean**2


def rest_of_organisation(org: ThemeFigures, team: ThemeFigures) -> ThemeAggregate | None:
    """A transient aggregate for the organisation minus the team, from the stored sums.

    The organisation's figure covers the team's respondents, so count, sum, sum of squares
    and favourable count subtract exactly; None when fewer than two respondents are left.
    """
    n = org.n - team.n
    if n < 2 or org.mean is None or team.mean is None:
        return None
    mean = (org.n * org.mean - team.n * team.mean) / n
    variance = max((_sum_of_squares(org) - _sum_of_squares(team) - n * mean**2) / (n - 1), 0.0)
    sd = math.sqrt(variance)
    half = 0.0 if sd == 0.0 else _t_975(n - 1) * sd / math.sqrt(n)
    favourable = (org.favourable_n or 0) - (team.favourable_n or 0)
    low, high = wilson_interval(favourable, n)
    return ThemeAggregate(
        team_id=org.team_id,
        cycle_id=org.cycle_id,
        theme=org.theme,
        n=n,
        mean=mean,
        sd=sd,
        ci_low=mean - half,
        ci_high=mean + half,
        favourable_n=favourable,
        favourable_pct=100.0 * favourable / n,
        fav_low=100.0 * low,
        fav_high=100.0 * high,
    )
