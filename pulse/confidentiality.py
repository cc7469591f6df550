"""Confidentiality rules: thresholds, small-group and complementary suppression, safe display."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, TypeAlias

MIN_THRESHOLD: Final = 3
MAX_THRESHOLD: Final = 10
DEFAULT_THRESHOLD: Final = 5
SUPPRESSED_REASON: Final = "fewer than {k} responses"

GroupId: TypeAlias = Hashable


def validate_threshold(k: int) -> int:
    """Return k when it is an allowed reporting threshold (3..10), otherwise raise ValueError."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"the reporting threshold must be a whole number, got {k!r}")
    if not MIN_THRESHOLD <= k <= MAX_THRESHOLD:
        raise ValueError(
            f"the reporting threshold must be between {MIN_THRESHOLD} and {MAX_THRESHOLD} "
            f"responses, got {k}"
        )
    return k


def suppressed_reason(k: int) -> str:
    """Return the text a suppressed cell shows, the same whether it has few responses or none."""
    return SUPPRESSED_REASON.format(k=validate_threshold(k))


@dataclass(frozen=True)
class GroupCount:
    """One group of the team tree and the respondents who belong to it directly.

    `n` counts only the group's own direct members, never its subgroups: the figure reported for
    a group covers its whole subtree, so its total is n plus the totals of its children.
    """

    id: GroupId
    parent_id: GroupId | None
    n: int


def _children(groups: Sequence[GroupCount]) -> dict[GroupId, list[GroupId]]:
    children: dict[GroupId, list[GroupId]] = {group.id: [] for group in groups}
    if len(children) != len(groups):
        raise ValueError("group ids must be unique")
    for group in groups:
        if group.n < 0:
            raise ValueError(f"group {group.id!r} has a negative respondent count")
        if group.parent_id is None:
            continue
        if group.parent_id not in children:
            raise ValueError(f"group {group.id!r} has unknown parent {group.parent_id!r}")
        children[group.parent_id].append(group.id)
    return children


def group_totals(groups: Sequence[GroupCount]) -> dict[GroupId, int]:
    """Return each group's total respondents: its direct members plus all of its subtree."""
    children = _children(groups)
    direct = {group.id: group.n for group in groups}
    order: list[GroupId] = []
    stack = [group.id for group in groups if group.parent_id is None]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children[node])
    if len(order) != len(groups):
        raise ValueError("the team tree has a cycle")
    totals: dict[GroupId, int] = {}
    for node in reversed(order):
        totals[node] = direct[node] + sum(totals[child] for child in children[node])
    return totals


def suppress_tree(
    groups: Sequence[GroupCount], k: int, *, also: Iterable[GroupId] = ()
) -> set[GroupId]:
    """Return the ids of the groups whose figures must be hidden at threshold k.

    Primary suppression hides every group whose total is below k (no data counts the same).
    Complementary suppression then makes this hold for every visible group G: the residual
    total(G) - sum(total(D) for the topmost visible groups D inside G's subtree) is either 0 or
    at least k. The residual is exactly what subtracting visible figures can reveal below G
    (hidden subgroups together with direct members, which are never shown on their own), so no
    set of 1..k-1 respondents, and in particular no hidden group with fewer than k, can have its
    count, sum or mean worked out by adding and subtracting visible figures. While a residual
    is too small, the smallest visible group that is subtracted from it is hidden as well;
    groups whose own residual is positive go first, since hiding one whose figure is the sum of
    its visible subgroups would reveal nothing new and protect nothing.

    `also` names groups hidden from the start whatever their totals (for a measure, the groups
    its cycle's hiding pattern already hides); complementary hiding then protects them too.
    """
    validate_threshold(k)
    totals = group_totals(groups)
    children = _children(groups)
    position = {group.id: i for i, group in enumerate(groups)}
    hidden = {group_id for group_id, total in totals.items() if total < k}
    hidden.update(group for group in also if group in totals)

    def frontier(group_id: GroupId) -> list[GroupId]:
        found: list[GroupId] = []
        stack = list(children[group_id])
        while stack:
            node = stack.pop()
            if node in hidden:
                stack.extend(children[node])
            else:
                found.append(node)
        return found

    def residual(group_id: GroupId) -> int:
        return totals[group_id] - sum(totals[d] for d in frontier(group_id))

    # Hiding a group changes only the residual of its nearest visible ancestor, so one pass
    # settles the tree; the loop re-checks until nothing changes to guard that reasoning.
    changed = True
    while changed:
        changed = False
        for group in groups:
            if group.id in hidden:
                continue
            while 0 < residual(group.id) < k:
                candidate = min(
                    frontier(group.id),
                    key=lambda d: (residual(d) == 0, totals[d], position[d]),
                )
                hidden.add(candidate)
                changed = True
    return hidden


def team_vs_rest(team_n: int, org_n: int, k: int, *, team_hidden: bool) -> bool:
    """Return whether an "organisation without this team" figure may be shown.

    Shown only when the team is visible (pass whether suppress_tree hid it), the team has at
    least k respondents and so has the rest of the organisation. The rest is then the difference
    of two visible figures, so it reveals nothing the tree does not; were the team hidden, the
    rest would give its figure away by subtraction from the organisation's.
    """
    validate_threshold(k)
    if team_n < 0 or org_n < team_n:
        raise ValueError(f"need 0 <= team_n <= org_n, got team_n={team_n}, org_n={org_n}")
    return not team_hidden and team_n >= k and org_n - team_n >= k


def participation_visible(invited: int, k: int) -> bool:
    """Return whether a participation rate may be shown: only where at least k were invited."""
    validate_threshold(k)
    return invited >= k


def visible_comments(
    comments: Iterable[str], respondents: int, k: int, rng: random.Random
) -> list[str]:
    """Return the comments a group may see: none below k respondents, else non-blank, shuffled.

    The threshold counts the group's respondents, as for scores; blank or whitespace-only
    comments are dropped and never shown. Shuffling breaks any link to submission order.
    """
    validate_threshold(k)
    kept = [comment.strip() for comment in comments if comment.strip()]
    if len(kept) > respondents:
        raise ValueError("there cannot be more comments than respondents")
    if respondents < k:
        return []
    rng.shuffle(kept)
    return kept


def _round_half_up(x: float, places: str) -> Decimal:
    if not math.isfinite(x):
        raise ValueError(f"cannot round a non-finite value {x!r} for display")
    # str() gives the shortest decimal that reads back as x, so 2.25 and 3.45 round up the way
    # people expect instead of following their binary approximations.
    return Decimal(str(x)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _nearest(scaled: float) -> int | None:
    """The nearest whole number to `scaled`, or None when it lies too close to a half to say.

    Reports round thousands of figures; only those whose scaled value is within a hair of .5
    can round differently in binary and in the decimal people read, so only those go through
    Decimal.
    """
    whole = math.floor(scaled)
    fraction = scaled - whole
    if abs(fraction - 0.5) < 1e-6:
        return None
    return whole + 1 if fraction > 0.5 else whole


def round_mean(x: float) -> float:
    """Round a mean for display to one decimal, halves away from zero."""
    if math.isfinite(x) and (tenths := _nearest(x * 10)) is not None:
        return tenths / 10
    return float(_round_half_up(x, "0.1"))


def round_pct(x: float) -> int:
    """Round a percentage (0–100 scale, not a proportion) to a whole number, halves up."""
    if math.isfinite(x) and (whole := _nearest(x)) is not None:
        return whole
    return int(_round_half_up(x, "1"))
