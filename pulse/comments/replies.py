"""Leaders acknowledge and reply to comments; the writer reads the replies through their link.

The data split holds: a reply names a comment, never its writer. The only way from a person
to their comment is the key only they hold, their own answer link: the response carries
`revision_key` = HMAC(secret, token) and nothing else on the answer side can be computed
from the person. So the writer reads replies by opening that link again (the answer page
while the cycle is open, the closed-link page afterwards), or by handing that old link to
the next cycle's answer page; the server never works out which person wrote what.

Nobody is notified per reply: there is no address to send to, and an email sent when a
reply is written would date the conversation. Replies wait on the pages above; the next
pulse's page tells the whole team how many comments of the last pulse got a reply (one
count for all, so its timing and its audience identify nobody).
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment, Response
from pulse.comments.masking import load_directory, mask
from pulse.comments.models import CommentReply
from pulse.delivery.tokens import looks_like_token, revision_key
from pulse.people.models import Person
from pulse.reporting.detail import comment_rows
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from pulse.teams.service import visible_team_ids

REACTIONS: Final = {
    "thanks": "Thank you for raising this",
    "discuss": "We will discuss this as a team",
    "acting": "We are acting on this",
}
REPLY_MAX: Final = 2000
REPLY_BOX_WARNING: Final = (
    "Reply to what was said, not to who said it. Do not ask the writer to identify "
    "themselves, to contact you, or to add details only they would know: the comment is "
    "anonymous and must stay so. Your reply is signed with your name."
)
# Requests a reply must not make: each would invite the writer to give themselves away.
_ASKS_FOR_IDENTITY = re.compile(
    r"\b(who (wrote|said|sent|posted)|whoever (wrote|said)|(come|drop by) (and )?(see|talk)|"
    r"(message|email|ping|call|dm) me|my door|identify yourself|reveal yourself|"
    r"let me know who|tell me who|your name)\b",
    re.IGNORECASE,
)


class ReplyRefused(ValueError):
    """The reply was not recorded; the message says why."""


@dataclass(frozen=True)
class ReplyView:
    """A reply as the writer, the team or a leader reads it."""

    reaction: str | None
    body: str | None
    author: str
    public: bool
    on: date


@dataclass(frozen=True)
class SharedReply:
    """A reply a leader made public, with the (masked) comment it answers."""

    comment: str
    replies: tuple[ReplyView, ...]


def asks_for_identity(text: str) -> bool:
    """Whether a reply asks the writer to step out of anonymity."""
    return _ASKS_FOR_IDENTITY.search(text) is not None


def reply_to_comment(
    session: Session,
    *,
    actor: Person,
    team_id: int,
    cycle_id: int,
    handle: str,
    threshold: int,
    today: date,
    reaction: str | None = None,
    body: str | None = None,
    public: bool = False,
) -> CommentReply:
    """Record a leader's reaction and/or reply to a comment they are shown; not committed.

    The comment must be one `comment_rows` shows this leader for that team and cycle, so a
    reply can only ever reach a comment the hiding pattern already lets them read.
    """
    if team_id not in visible_team_ids(session, person=actor):
        raise PermissionError("not a team this person may read")
    text = (body or "").strip() or None
    if reaction is not None and reaction not in REACTIONS:
        raise ReplyRefused(f"“{reaction}” is not one of the offered reactions")
    if reaction is None and text is None:
        raise ReplyRefused("choose a reaction or write a reply")
    if text is not None and len(text) > REPLY_MAX:
        raise ReplyRefused(f"please keep the reply under {REPLY_MAX} characters")
    if text is not None and asks_for_identity(text):
        raise ReplyRefused(
            "the reply seems to ask the writer to identify themselves or to contact you; "
            "answer what was said instead"
        )
    shown = comment_rows(
        session, team_id=team_id, cycle_id=cycle_id, threshold=threshold, rng=random.Random(0)
    )
    if handle not in {row.handle for row in shown}:
        raise PermissionError("not a comment this person is shown")
    reply = CommentReply(
        comment_id=handle,
        team_id=team_id,
        reaction=reaction,
        body=text,
        author_name=actor.name,
        public=public,
        created_on=today,
    )
    session.add(reply)
    session.flush()
    return reply


def _view(reply: CommentReply) -> ReplyView:
    label = REACTIONS.get(reply.reaction) if reply.reaction else None
    return ReplyView(label, reply.body, reply.author_name, reply.public, reply.created_on)


def replies_to(session: Session, *, handles: Collection[str]) -> dict[str, list[ReplyView]]:
    """The replies to each of these comments, oldest first (for the leaders who see them)."""
    if not handles:
        return {}
    found: dict[str, list[ReplyView]] = {}
    for reply in session.scalars(
        select(CommentReply)
        .where(CommentReply.comment_id.in_(sorted(handles)))
        .order_by(CommentReply.id)
    ):
        found.setdefault(reply.comment_id, []).append(_view(reply))
    return found


def replies_for_link(session: Session, *, secret: str, token: str) -> list[ReplyView]:
    """The replies to the comment written through this answer link: only its holder can ask.

    Works whether the link's cycle is open or closed: replies come after the cycle closes
    (comments are sealed until then), when the link no longer takes answers.
    """
    if not looks_like_token(token):
        return []
    key = revision_key(secret, token)
    query = (
        select(CommentReply)
        .join(Comment, Comment.id == CommentReply.comment_id)
        .join(Response, Response.id == Comment.response_id)
        .where(Response.revision_key == key)
        .order_by(CommentReply.id)
    )
    return [_view(reply) for reply in session.scalars(query)]


def previous_cycle_id(session: Session, *, cycle_id: int) -> int | None:
    """The cycle of the same schedule that opened just before this one."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or cycle.schedule_id is None:
        return None
    return session.scalar(
        select(Cycle.id)
        .where(Cycle.schedule_id == cycle.schedule_id, Cycle.opens_at < cycle.opens_at)
        .order_by(Cycle.opens_at.desc())
        .limit(1)
    )


def _ancestors(session: Session, team_id: int) -> list[int]:
    """The team and every group above it, nearest first."""
    chain: list[int] = []
    current: int | None = team_id
    while current is not None and current not in chain:
        chain.append(current)
        current = session.scalar(select(Team.parent_id).where(Team.id == current))
    return chain


def shared_replies(session: Session, *, team_id: int, cycle_id: int) -> list[SharedReply]:
    """Public replies of a cycle that reach a team, with the comments they answer masked.

    A public reply goes to everyone under the group its leader replied for (the team, or the
    whole department), never only to the team the comment came from: a department's
    comments are shown without their team, and a reply must not tell which team wrote one.
    """
    found = session.execute(
        select(Comment.id, Comment.body, CommentReply)
        .join(CommentReply, CommentReply.comment_id == Comment.id)
        .where(
            Comment.cycle_id == cycle_id,
            CommentReply.team_id.in_(_ancestors(session, team_id)),
            CommentReply.public,
        )
        .order_by(Comment.id, CommentReply.id)
    ).all()
    if not found:
        return []  # the answer page asks on every visit: no directory read for nothing
    directory = load_directory(session)
    grouped: dict[str, tuple[str, list[ReplyView]]] = {}
    for comment_id, body, reply in found:
        grouped.setdefault(comment_id, (mask(body.strip(), directory), []))[1].append(_view(reply))
    return [SharedReply(text, tuple(replies)) for text, replies in grouped.values()]


def replied_count(session: Session, *, team_id: int, cycle_id: int) -> int:
    """How many comments of a cycle, under the groups a team belongs to, got a reply or an
    acknowledgement: the one notice everyone on the team gets, whoever wrote what."""
    count = session.scalar(
        select(func.count(func.distinct(CommentReply.comment_id)))
        .join(Comment, Comment.id == CommentReply.comment_id)
        .where(
            Comment.cycle_id == cycle_id,
            CommentReply.team_id.in_(_ancestors(session, team_id)),
        )
    )
    return int(count or 0)
