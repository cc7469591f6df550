"""Team actions ("you said, we did"): recording them, listing them, and what respondents said."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.answers.models import ActionFeedback
from pulse.audit.service import record
from pulse.confidentiality import validate_threshold
from pulse.delivery.models import Invitation
from pulse.instrument import THEMES
from pulse.people.models import Person
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from pulse.teams.service import visible_team_ids

MAX_ACTION_LENGTH = 500
MAX_OWNER_LENGTH = 120
# Where an action stands, in the order a team moves through them.
STATUS_LABELS = {
    "planned": "Planned",
    "in_progress": "In progress",
    "done": "Done",
    "dropped": "Dropped",
}
STATUSES = tuple(STATUS_LABELS)
# The answers to "did it help?", in the order the answer page offers them; stored in
# ActionFeedback.verdict (at most 12 characters).
# The answers to "did it help?", as the answer page stores them and the dashboard counts them.
VERDICT_LABELS = {
    "helped": "Yes, it helped",
    "not_helped": "Not really",
    "too_early": "Too early to say",
}
VERDICTS = tuple(VERDICT_LABELS)


@dataclass(frozen=True)
class FeedbackSummary:
    """How respondents judged one action; counts are None below the threshold k."""

    action_id: int
    respondents: int | None
    counts: dict[str, int] | None
    suppressed: bool


def clean_action_text(text: str | None) -> str:
    """The action text with surrounding space removed; ValueError when blank or too long."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValueError("describe what the team agreed to do")
    if len(cleaned) > MAX_ACTION_LENGTH:
        raise ValueError(f"keep the action under {MAX_ACTION_LENGTH} characters")
    return cleaned


def record_action(
    session: Session,
    *,
    actor: Person,
    team_id: int,
    cycle_id: int,
    theme: str,
    text: str | None,
    owner: str | None = None,
    due_on: date | None = None,
) -> TeamAction:
    """Record what a team agreed to do about a theme after a cycle, with its audit event;
    an owner and a due date are optional, since some teams agree on them later."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}")
    body = clean_action_text(text)
    who = (owner or "").strip() or None
    if who is not None and len(who) > MAX_OWNER_LENGTH:
        raise ValueError(f"keep the owner under {MAX_OWNER_LENGTH} characters")
    if session.get(Team, team_id) is None:
        raise ValueError("unknown team")
    if team_id not in visible_team_ids(session, person=actor):
        raise PermissionError("you can record actions only for teams you lead")
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise ValueError("unknown survey cycle")
    if cycle.status == "open":
        raise ValueError("record actions once the cycle has closed")
    action = TeamAction(
        team_id=team_id, cycle_id=cycle_id, theme=theme, text=body, owner=who, due_on=due_on
    )
    session.add(action)
    session.flush()
    record(
        session,
        actor=actor,
        action="action.recorded",
        target=f"team:{team_id}",
        detail={"action_id": action.id, "cycle_id": cycle_id, "theme": theme},
    )
    return action


def set_action_status(
    session: Session, *, actor: Person, action_id: int, status: str
) -> TeamAction:
    """Move an action to another status (planned, in progress, done, dropped), audited;
    only someone who may see the action's team may move it."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    action = session.get(TeamAction, action_id)
    if action is None or action.team_id not in visible_team_ids(session, person=actor):
        raise PermissionError("you can update actions only for teams you lead")
    if action.status != status:
        before = action.status
        action.status = status
        record(
            session,
            actor=actor,
            action="action.status",
            target=f"team:{action.team_id}",
            detail={"action_id": action.id, "from": before, "to": status},
        )
    return action


def list_actions(session: Session, *, team_id: int) -> list[TeamAction]:
    """A team's recorded actions, oldest first."""
    query = (
        select(TeamAction)
        .where(TeamAction.team_id == team_id)
        .order_by(TeamAction.created_at, TeamAction.id)
    )
    return list(session.scalars(query))


def previous_cycle(session: Session, *, team_id: int, cycle: Cycle) -> Cycle | None:
    """The latest cycle before `cycle` to which the team was invited."""
    query = (
        select(Cycle)
        .join(Invitation, Invitation.cycle_id == Cycle.id)
        .where(Invitation.team_id == team_id, Cycle.opens_at < cycle.opens_at)
        .order_by(Cycle.opens_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def actions_to_ask_about(session: Session, *, team_id: int, cycle: Cycle) -> list[TeamAction]:
    """Actions recorded since the team's previous cycle, to ask about in `cycle`."""
    before = previous_cycle(session, team_id=team_id, cycle=cycle)
    if before is None:
        return []
    query = (
        select(TeamAction)
        .where(
            TeamAction.team_id == team_id,
            TeamAction.created_at < cycle.opens_at,
            or_(TeamAction.cycle_id == before.id, TeamAction.created_at >= before.opens_at),
        )
        .order_by(TeamAction.created_at, TeamAction.id)
    )
    return list(session.scalars(query))


def feedback_summary(
    session: Session, *, action_ids: Iterable[int], threshold: int
) -> dict[int, FeedbackSummary]:
    """Counts of each verdict per action; nothing but "suppressed" below k respondents."""
    validate_threshold(threshold)
    ids = sorted(set(action_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(ActionFeedback.action_id, ActionFeedback.verdict, func.count())
        .where(ActionFeedback.action_id.in_(ids))
        .group_by(ActionFeedback.action_id, ActionFeedback.verdict)
    )
    counts: dict[int, Counter[str]] = {action_id: Counter() for action_id in ids}
    for action_id, verdict, count in rows:
        counts[action_id][verdict] += count
    summaries = {}
    for action_id, verdicts in counts.items():
        total = sum(verdicts.values())
        shown = total >= threshold
        summaries[action_id] = FeedbackSummary(
            action_id=action_id,
            respondents=total if shown else None,
            counts={v: verdicts.get(v, 0) for v in VERDICTS} if shown else None,
            suppressed=not shown,
        )
    return summaries
