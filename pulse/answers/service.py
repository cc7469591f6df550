"""Opening the answer page from a link token, and submitting or revising a response.

Nothing written here links the response to the invitation: the response carries a random id,
the team, the day, and `revision_key` = HMAC(secret, token), which only the link's holder can
reproduce. The invitation only learns that it was answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.actions.service import VERDICT_LABELS
from pulse.answers.models import ActionFeedback, Answer, Comment, Response
from pulse.db import random_id
from pulse.delivery.emails import Choice, choices_for, choices_for_scale, closes_label
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.tokens import looks_like_token, revision_key, token_hash
from pulse.instrument import COMMENT_PROMPT, DONT_KNOW_LABEL
from pulse.reporting.dirty import mark_dirty
from pulse.surveys.models import Cycle, CycleItem, Item, Schedule

DONT_KNOW = "dk"
COMMENT_MAX = 2000
# The answers to "did it help?" are defined once, where the dashboard counts them.
VERDICTS = VERDICT_LABELS


_UNKNOWN = (
    "Please open it again from your email, and check that the whole address was copied. "
    "Links from any email about this pulse work until the answer window ends."
)
_CLOSED = (
    "The answer window has ended, so this link no longer works. Thank you all the same; "
    "the next pulse will come by email."
)


class LinkProblem(Exception):
    """The link cannot open a survey; `status` is the HTTP status the page should carry."""

    status = 400
    title = "This link is not valid"


class MalformedLink(LinkProblem):
    status = 400
    title = "This link is incomplete"


class UnknownLink(LinkProblem):
    status = 404
    title = "We don't recognise this link"


class ClosedLink(LinkProblem):
    status = 410
    title = "This pulse has closed"


class AlreadyAnswered(LinkProblem):
    status = 409
    title = "This survey was already answered"


class InvalidAnswers(ValueError):
    """Some submitted value is not one the survey offers; nothing was written."""


@dataclass(frozen=True)
class SurveyItem:
    item_id: int
    wording: str
    theme: str
    choices: tuple[Choice, ...]
    dont_know: bool


@dataclass(frozen=True)
class SurveyAction:
    action_id: int
    theme: str
    text: str


@dataclass
class Survey:
    """Everything the answer page shows; `previous_*` are filled when revising."""

    cycle_id: int
    team_id: int
    module: str | None
    closes_at: datetime
    closes_label: str
    items: list[SurveyItem]
    actions: list[SurveyAction]
    answered: bool = False
    previous: dict[int, str] = field(default_factory=dict)
    previous_comment: str = ""
    previous_feedback: dict[int, str] = field(default_factory=dict)
    comment_prompt: str = COMMENT_PROMPT
    dont_know_label: str = DONT_KNOW_LABEL


@dataclass(frozen=True)
class SubmitResult:
    cycle_id: int
    team_id: int
    revised: bool


def _check_shape(token: str) -> None:
    if not looks_like_token(token):
        raise MalformedLink(
            "The link looks cut short or changed. Open it again from your email, or copy the "
            "whole address."
        )


def _invitation_for(
    session: Session, *, token: str, now: datetime, lock: bool = False
) -> tuple[Invitation, Cycle]:
    _check_shape(token)
    query = (
        select(Invitation)
        .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
        .where(InvitationLink.token_hash == token_hash(token))
    )
    if lock:
        # Serialises two submits of the same link on PostgreSQL; SQLite serialises writers.
        query = query.with_for_update(of=Invitation)
    invitation = session.scalar(query)
    if invitation is None:
        raise UnknownLink(_UNKNOWN)
    cycle = session.get(Cycle, invitation.cycle_id)
    if cycle is None or cycle.status != "open" or now >= cycle.closes_at:
        raise ClosedLink(_CLOSED)
    return invitation, cycle


def _actions_since_last_pulse(session: Session, *, cycle: Cycle, team_id: int) -> list[TeamAction]:
    previous = session.scalar(
        select(Cycle.opens_at)
        .where(Cycle.schedule_id == cycle.schedule_id, Cycle.opens_at < cycle.opens_at)
        .order_by(Cycle.opens_at.desc())
        .limit(1)
    )
    if previous is None or cycle.schedule_id is None:
        return []
    return list(
        session.scalars(
            select(TeamAction)
            .where(TeamAction.team_id == team_id, TeamAction.created_at >= previous)
            .order_by(TeamAction.created_at, TeamAction.id)
        )
    )


def _survey(session: Session, invitation: Invitation, cycle: Cycle) -> Survey:
    items = [
        SurveyItem(
            item_id=ci.item_id,
            wording=ci.item.wording,
            theme=ci.item.theme,
            choices=choices_for(ci.item),
            dont_know=ci.item.scale == "agree5_dk",
        )
        for ci in cycle.items
    ]
    actions = [
        SurveyAction(a.id, a.theme, a.text)
        for a in _actions_since_last_pulse(session, cycle=cycle, team_id=invitation.team_id)
    ]
    schedule = session.get(Schedule, cycle.schedule_id) if cycle.schedule_id else None
    return Survey(
        cycle_id=cycle.id,
        team_id=invitation.team_id,
        module=cycle.module,
        closes_at=cycle.closes_at,
        closes_label=closes_label(cycle.closes_at, schedule.timezone if schedule else "UTC"),
        items=items,
        actions=actions,
        answered=invitation.answered,
    )


def open_survey(session: Session, *, token: str, secret: str, now: datetime) -> Survey:
    """The survey behind a link, with earlier answers when revising; reads only."""
    invitation, cycle = _invitation_for(session, token=token, now=now)
    survey = _survey(session, invitation, cycle)
    response = session.scalar(
        select(Response).where(Response.revision_key == revision_key(secret, token))
    )
    if response is not None:
        survey.previous = {
            a.item_id: DONT_KNOW if a.value is None else str(a.value) for a in response.answers
        }
        comment = session.scalar(select(Comment.body).where(Comment.response_id == response.id))
        survey.previous_comment = comment or ""
        survey.previous_feedback = dict(
            session.execute(
                select(ActionFeedback.action_id, ActionFeedback.verdict).where(
                    ActionFeedback.response_id == response.id
                )
            )
            .tuples()
            .all()
        )
    return survey


def _parse_value(item: SurveyItem, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if raw == DONT_KNOW:
        if not item.dont_know:
            raise InvalidAnswers(f"“{item.wording}” has no “don't know” answer.")
        return None
    low, high = (item.choices[0].value, item.choices[-1].value) if item.choices else (0, 0)
    try:
        value = int(raw)
    except ValueError:
        raise InvalidAnswers(f"“{raw}” is not an answer to “{item.wording}”.") from None
    if not low <= value <= high:
        raise InvalidAnswers(
            f"Answers to “{item.wording}” go from {low} to {high}; {value} is outside the scale."
        )
    return value


def validate_answers(
    survey: Survey,
    *,
    answers: Mapping[int, str | None],
    comment: str,
    feedback: Mapping[int, str | None],
) -> tuple[dict[int, int | None], str, dict[int, str]]:
    """Check every value against the survey; raise InvalidAnswers naming the first problem."""
    return _validate(
        survey.items, survey.actions, answers=answers, comment=comment, feedback=feedback
    )


def _validate(
    items: list[SurveyItem],
    actions: list[SurveyAction],
    *,
    answers: Mapping[int, str | None],
    comment: str,
    feedback: Mapping[int, str | None],
) -> tuple[dict[int, int | None], str, dict[int, str]]:
    by_id = {item.item_id: item for item in items}
    unknown = set(answers) - set(by_id)
    if unknown:
        raise InvalidAnswers("Some answers are for questions this survey does not ask.")
    values = {item_id: _parse_value(item, answers.get(item_id)) for item_id, item in by_id.items()}
    body = (comment or "").strip()
    if len(body) > COMMENT_MAX:
        raise InvalidAnswers(f"Please keep the comment under {COMMENT_MAX} characters.")
    shown = {action.action_id for action in actions}
    verdicts: dict[int, str] = {}
    for action_id, verdict in feedback.items():
        if action_id not in shown:
            raise InvalidAnswers("Feedback was sent for an action this survey does not show.")
        if verdict in (None, ""):
            continue
        if verdict not in VERDICTS:
            raise InvalidAnswers(f"“{verdict}” is not one of the offered answers.")
        verdicts[action_id] = verdict
    return values, body, verdicts


@dataclass(frozen=True)
class _Target:
    invitation_id: int
    team_id: int
    answered: bool
    cycle_id: int
    module: str | None
    items: list[SurveyItem]


def _submit_target(session: Session, *, token: str, now: datetime) -> _Target:
    """The link's invitation (locked), its cycle and items, read in one query for a submit."""
    _check_shape(token)
    # One round trip instead of invitation, cycle and items apart; only the invitation row is
    # locked (serialising two submits of the same link on PostgreSQL), never the shared cycle.
    rows = session.execute(
        select(
            Invitation.id,
            Invitation.team_id,
            Invitation.answered,
            Cycle.id,
            Cycle.status,
            Cycle.closes_at,
            Cycle.module,
            Item.id,
            Item.wording,
            Item.theme,
            Item.scale,
        )
        .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
        .join(Cycle, Cycle.id == Invitation.cycle_id)
        .outerjoin(CycleItem, CycleItem.cycle_id == Cycle.id)
        .outerjoin(Item, Item.id == CycleItem.item_id)
        .where(InvitationLink.token_hash == token_hash(token))
        .order_by(CycleItem.position)
        .with_for_update(of=Invitation)
    ).all()
    if not rows:
        raise UnknownLink(_UNKNOWN)
    invitation_id, team_id, answered, cycle_id, status, closes_at, module = rows[0][:7]
    if status != "open" or now >= closes_at:
        raise ClosedLink(_CLOSED)
    items = [
        SurveyItem(
            item_id=item_id,
            wording=wording,
            theme=theme,
            choices=choices_for_scale(scale),
            dont_know=scale == "agree5_dk",
        )
        for *_, item_id, wording, theme, scale in rows
        if item_id is not None
    ]
    return _Target(invitation_id, team_id, answered, cycle_id, module, items)


def _shown_actions(
    session: Session, *, cycle_id: int, team_id: int, feedback: Mapping[int, str | None]
) -> list[SurveyAction]:
    if not feedback:
        return []  # nothing to check feedback against: skip the two queries
    cycle = session.get(Cycle, cycle_id)
    assert cycle is not None
    return [
        SurveyAction(a.id, a.theme, a.text)
        for a in _actions_since_last_pulse(session, cycle=cycle, team_id=team_id)
    ]


def submit_response(
    session: Session,
    *,
    token: str,
    secret: str,
    answers: Mapping[int, str | None],
    comment: str,
    feedback: Mapping[int, str | None],
    now: datetime,
) -> SubmitResult:
    """Record or revise the response behind a link, mark the invitation and the team dirty.

    Everything happens in the caller's transaction. Two concurrent first submits of the same
    link collide on the unique revision key; the loser's IntegrityError should be rolled back
    and the submit retried, which then revises the winner's response.
    """
    target = _submit_target(session, token=token, now=now)
    invitation_id, team_id, answered = target.invitation_id, target.team_id, target.answered
    cycle_id, module = target.cycle_id, target.module
    actions = _shown_actions(session, cycle_id=cycle_id, team_id=team_id, feedback=feedback)
    values, body, verdicts = _validate(
        target.items, actions, answers=answers, comment=comment, feedback=feedback
    )
    key = revision_key(secret, token)
    existing = session.execute(
        select(Response.id, Response.team_id).where(Response.revision_key == key)
    ).first()
    revised = existing is not None
    # Every read and all validation happen above; the writes below come last and back to back,
    # so SQLite's single write lock (taken at the first write) is held as briefly as possible.
    if existing is None:
        if answered:
            raise AlreadyAnswered("This invitation was answered with another link.")
        response_id, response_team = random_id(), team_id
        session.execute(
            insert(Response).values(
                id=response_id,
                cycle_id=cycle_id,
                team_id=team_id,
                submitted_on=now.date(),
                revision_key=key,
            )
        )
    else:
        response_id, response_team = existing
        for model in (Answer, Comment, ActionFeedback):
            session.execute(delete(model).where(model.response_id == response_id))
    session.execute(
        insert(Answer),
        [{"response_id": response_id, "item_id": i, "value": v} for i, v in values.items()],
    )
    if body:
        session.execute(
            insert(Comment).values(
                id=random_id(),
                response_id=response_id,
                cycle_id=cycle_id,
                team_id=response_team,
                theme=module,
                body=body,
            )
        )
    if verdicts:
        session.execute(
            insert(ActionFeedback),
            [
                {"response_id": response_id, "action_id": a, "verdict": v}
                for a, v in verdicts.items()
            ],
        )
    if not answered:
        session.execute(
            update(Invitation).where(Invitation.id == invitation_id).values(answered=True)
        )
    mark_dirty(session, team_id=response_team, cycle_id=cycle_id)
    return SubmitResult(cycle_id=cycle_id, team_id=response_team, revised=revised)
