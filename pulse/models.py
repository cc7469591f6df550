"""Every mapped class, imported in one place so the metadata is complete for Alembic."""

from pulse.actions.models import TeamAction
from pulse.answers.models import ActionFeedback, Answer, Comment, Response
from pulse.audit.models import AuditEvent
from pulse.comments.models import CommentReply, SensitiveWord
from pulse.db import Base
from pulse.delivery.digest_models import DigestPreference, ResultsDigest
from pulse.delivery.models import Invitation, InvitationLink, OutboxMessage
from pulse.organisation.models import OrgSetting
from pulse.people.models import AccountToken, Person, RoleGrant
from pulse.provisioning.models import ProvisionedResource
from pulse.reporting.models import (
    DirtyTeamCycle,
    ItemAggregate,
    Participation,
    SuppressionStamp,
    ThemeAggregate,
    TreeGeneration,
)
from pulse.sharing.models import ShareDelivery, TeamShare
from pulse.surveys.models import Cycle, CycleItem, Item, Schedule, ScheduleTarget
from pulse.teams.models import Membership, Team
from pulse.tokens.models import IntegrationToken
from pulse.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AccountToken",
    "ActionFeedback",
    "Answer",
    "AuditEvent",
    "Base",
    "Comment",
    "CommentReply",
    "Cycle",
    "CycleItem",
    "DigestPreference",
    "DirtyTeamCycle",
    "IntegrationToken",
    "Invitation",
    "InvitationLink",
    "Item",
    "ItemAggregate",
    "Membership",
    "OrgSetting",
    "OutboxMessage",
    "Participation",
    "Person",
    "ProvisionedResource",
    "Response",
    "ResultsDigest",
    "RoleGrant",
    "Schedule",
    "ScheduleTarget",
    "SensitiveWord",
    "ShareDelivery",
    "SuppressionStamp",
    "Team",
    "TeamAction",
    "TeamShare",
    "ThemeAggregate",
    "TreeGeneration",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
