"""Opening the answer page from a link token, and checking submitted answers.

Nothing written links the response to the invitation (see pulse/answers/submit.py): the
response carries a random id, the team, the day, and `revision_key` = HMAC(secret, token), which
only the link's holder can reproduce. The invitation only learns that it was answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.actions.service import VERDICT_LABELS
from pulse.answers.models import ActionFeedback, Comment, Response
from pulse.delivery.emails import Choice, choices_for, closes_label
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.tokens import looks_like_token, revision_key, token_hash
from pulse.instrument import COMMENT_PROMPT, DONT_KNOW_LABEL
from pulse.organisation.service import DEFAULT_THRESHOLDS, Thresholds, thresholds
from pulse.surveys.cycles import cycle_thresholds
from pulse.surveys.models import Cycle, Schedule

DONT_KNOW = "dk"
COMMENT_MAX = 2000
# The answers to "did it help?" are defined once, where the dashboard counts them.
VERDICTS = VERDICT_LABELS


UNKNOWN_LINK = (
    "Please open it again from your email, and check that the whole address was copied. "
    "Links from any email about this pulse work until the answer window ends."
)
CLOSED_LINK = (
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
    # The cycle's thresholds in force, stated on the page before anyone answers.
    thresholds: Thresholds
    answered: bool = False
    previous: dict[int, str] = field(default_factory=dict)
    previous_comment: str = ""
    previous_feedback: dict[int, str] = field(default_factory=dict)
    comment_prompt: str = COMMENT_PROMPT
    dont_know_label: str = DONT_KNOW_LABEL


def check_link_shape(token: str) -> None:
    """Refuse a token that cannot be one of ours before any query."""
    if not looks_like_token(token):
        raise MalformedLink(
            "The link looks cut short or changed. Open it again from your email, or copy the "
            "whole address."
        )


def _invitation_for(session: Session, *, token: str, now: datetime) -> tuple[Invitation, Cycle]:
    check_link_shape(token)
    query = (
        select(Invitation)
        .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
        .where(InvitationLink.token_hash == token_hash(token))
    )
    invitation = session.scalar(query)
    if invitation is None:
        raise UnknownLink(UNKNOWN_LINK)
    cycle = session.get(Cycle, invitation.cycle_id)
    if cycle is None or cycle.status != "open" or now >= cycle.closes_at:
        raise ClosedLink(CLOSED_LINK)
    return invitation, cycle


def actions_since_last_pulse(session: Session, *, cycle: Cycle, team_id: int) -> list[TeamAction]:
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


def _survey(session: Session, invitation: Invitation, cycle: Cycle, defaults: Thresholds) -> Survey:
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
        for a in actions_since_last_pulse(session, cycle=cycle, team_id=invitation.team_id)
    ]
    schedule = session.get(Schedule, cycle.schedule_id) if cycle.schedule_id else None
    current = thresholds(
        session,
        default=defaults.scores,
        default_participation=defaults.participation,
        default_comments=defaults.comments,
    )
    return Survey(
        cycle_id=cycle.id,
        team_id=invitation.team_id,
        module=cycle.module,
        closes_at=cycle.closes_at,
        closes_label=closes_label(cycle.closes_at, schedule.timezone if schedule else "UTC"),
        items=items,
        actions=actions,
        thresholds=cycle_thresholds(cycle, current),
        answered=invitation.answered,
    )


def open_survey(
    session: Session,
    *,
    token: str,
    secret: str,
    now: datetime,
    defaults: Thresholds = DEFAULT_THRESHOLDS,
) -> Survey:
    """The survey behind a link, with earlier answers when revising; reads only.

    `defaults` are the configured thresholds (PULSE_THRESHOLD*) for any kind the organisation
    never set: the page states the cycle's thresholds before anyone answers.
    """
    invitation, cycle = _invitation_for(session, token=token, now=now)
    survey = _survey(session, invitation, cycle, defaults)
    response = session.scalar(
        select(Response).where(Response.revision_key == revision_key(secret, token))
    )
    if response is not None:
        survey.previous = {
            a.item_id: DONT_KNOW if a.value is None else str(a.value) for a in response.answers
        }
        comment = session.scalar(select(Comment.body).where(Comment.response_id == response.id))
        survey.previous_comment = comment or ""
        feedback = session.execute(
            select(ActionFeedback.action_id, ActionFeedback.verdict).where(
                ActionFeedback.response_id == response.id
            )
        )
        survey.previous_feedback = {action_id: verdict for action_id, verdict in feedback}
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
    return check_answers(
        survey.items, survey.actions, answers=answers, comment=comment, feedback=feedback
    )


def check_answers(
    items: list[SurveyItem],
    actions: list[SurveyAction],
    *,
    answers: Mapping[int, str | None],
    comment: str,
    feedback: Mapping[int, str | None],
) -> tuple[dict[int, int | None], str, dict[int, str]]:
    """The parsed values, comment and verdicts; InvalidAnswers names the first problem."""
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
