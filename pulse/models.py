"""Every mapped class, imported in one place so the metadata is complete for Alembic."""

from pulse.actions.models import TeamAction
from pulse.answers.models import ActionFeedback, Answer, Comment, Response
from pulse.audit.models import AuditEvent
from pulse.db import Base
from pulse.delivery.models import Invitation, InvitationLink, OutboxMessage
from pulse.organisation.models import OrgSetting
from pulse.people.models import AccountToken, Person, RoleGrant
from pulse.reporting.models import (
    DirtyTeamCycle,
    ItemAggregate,
    Participation,
    SuppressionStamp,
    ThemeAggregate,
)
from pulse.surveys.models import Cycle, CycleItem, Item, Schedule, ScheduleTarget
from pulse.teams.models import Membership, Team

__all__ = [
    "AccountToken",
    "ActionFeedback",
    "Answer",
    "AuditEvent",
    "Base",
    "Comment",
    "Cycle",
    "CycleItem",
    "DirtyTeamCycle",
    "Invitation",
    "InvitationLink",
    "Item",
    "ItemAggregate",
    "Membership",
    "OrgSetting",
    "OutboxMessage",
    "Participation",
    "Person",
    "Response",
    "RoleGrant",
    "Schedule",
    "ScheduleTarget",
    "SuppressionStamp",
    "Team",
    "TeamAction",
    "ThemeAggregate",
]
