"""The "rest of the organisation" figure: the organisation's aggregate without one team."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, TypeAlias

from scipy import stats as sps
from sqlalchemy import Row

from pulse.reporting.models import ThemeAggregate
from pulse.stats import clustered_wilson

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
    and the favourable share's counts and sums subtract exactly; None when fewer than two
    respondents are left. Rows stored before the share counted answers carry no share.
    """
    n = org.n - team.n
    if n < 2 or org.mean is None or team.mean is None:
        return None
    mean = (org.n * org.mean - team.n * team.mean) / n
    variance = max((_sum_of_squares(org) - _sum_of_squares(team) - n * mean**2) / (n - 1), 0.0)
    sd = math.sqrt(variance)
    half = 0.0 if sd == 0.0 else _t_975(n - 1) * sd / math.sqrt(n)
    share = _favourable(org, team, n)
    return ThemeAggregate(
        team_id=org.team_id,
        cycle_id=org.cycle_id,
        theme=org.theme,
        n=n,
        mean=mean,
        sd=sd,
        ci_low=mean - half,
        ci_high=mean + half,
        **share,
    )


_SHARE = ("favourable_n", "answers_n", "favourable_sq", "favourable_cross", "answers_sq")


def _favourable(org: ThemeFigures, team: ThemeFigures, n: int) -> dict[str, Any]:
    """The favourable share of the rest: its counts and sums, its percentage and interval."""
    found = [(getattr(org, name), getattr(team, name)) for name in _SHARE]
    if any(a is None or b is None for a, b in found):
        return {}
    rest = {name: a - b for name, (a, b) in zip(_SHARE, found, strict=True)}
    if rest["answers_n"] <= 0:
        return {}
    low, high = clustered_wilson(
        rest["favourable_n"],
        rest["answers_n"],
        rest["favourable_sq"],
        rest["favourable_cross"],
        rest["answers_sq"],
        n,
    )
    return {
        **rest,
        "favourable_pct": 100.0 * rest["favourable_n"] / rest["answers_n"],
        "fav_low": 100.0 * float(low[0]),
        "fav_high": 100.0 * float(high[0]),
    }
