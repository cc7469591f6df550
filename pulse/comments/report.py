"""What a leader sees of a group's comments in a cycle: masked comments, themes, replies.

One function for every door (dashboard, `pulse report comments`), so the command prints
exactly what the dashboard shows. Comments come from pulse.reporting's `comment_rows`, which
applies the cycle's hiding pattern and the comments threshold and masks names; themes are
found on those masked texts and kept only when they draw on at least k distinct comments,
k being the cycle's own comments threshold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from pulse.comments.replies import ReplyView, replies_to
from pulse.comments.themes import Theme, find_themes
from pulse.reporting.context import ReportContext, report_context
from pulse.reporting.detail import comment_rows
from pulse.surveys.models import Cycle


@dataclass(frozen=True)
class LeaderComment:
    """A comment as a leader reads it: masked text, its handle to reply to, the replies."""

    handle: str
    theme: str | None
    text: str
    replies: tuple[ReplyView, ...]


@dataclass(frozen=True)
class LeaderComments:
    """A group's comments of one cycle, or why there are none to show."""

    team_id: int
    cycle_id: int
    k: int
    comments: tuple[LeaderComment, ...]
    themes: tuple[Theme, ...]
    notice: str | None


def leader_comments(
    session: Session,
    *,
    team_id: int,
    cycle_id: int,
    threshold: int,
    rng: random.Random,
    context: ReportContext | None = None,
) -> LeaderComments:
    """The group's comments, themes and replies where the rules allow; shuffled.

    The caller has checked that the leader may read the group.
    """
    context = report_context(session, threshold, context)
    k = context.k_of(session, cycle_id, "comments")
    rows = comment_rows(
        session, team_id=team_id, cycle_id=cycle_id, threshold=threshold, rng=rng, context=context
    )
    replies = replies_to(session, handles=[row.handle for row in rows if row.handle])
    comments = tuple(
        LeaderComment(
            row.handle or "", row.theme, row.body, tuple(replies.get(row.handle or "", ()))
        )
        for row in rows
    )
    # Sorted, not in the shuffled order: the same comments give the same themes on every view.
    themes = tuple(find_themes(sorted(row.body for row in rows), min_size=k)) if rows else ()
    notice = None
    if not rows:
        cycle = session.get(Cycle, cycle_id)
        if cycle is not None and cycle.status != "closed":
            notice = "comments are shown when the cycle closes"
        else:
            notice = (
                f"no comments to show: comments appear only for groups where at least {k} "
                "people answered, and never where they would single out a smaller group"
            )
    return LeaderComments(team_id, cycle_id, k, comments, themes, notice)


def plain(view: LeaderComments) -> dict[str, Any]:
    """The view as plain JSON values, as `pulse report comments` prints it."""
    return {
        "comments_threshold": view.k,
        "notice": view.notice,
        "comments": [
            {
                "handle": comment.handle,
                "theme": comment.theme,
                "text": comment.text,
                "replies": [
                    {
                        "reaction": reply.reaction,
                        "text": reply.body,
                        "by": reply.author,
                        "public": reply.public,
                        "on": reply.on.isoformat(),
                    }
                    for reply in comment.replies
                ],
            }
            for comment in view.comments
        ],
        "themes": [
            {
                "label": theme.label,
                "keywords": list(theme.keywords),
                "comments": theme.count,
                "examples": list(theme.examples),
            }
            for theme in view.themes
        ],
    }
