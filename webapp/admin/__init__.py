"""Admin pages: people, teams, schedules, cycles, settings and the audit log."""

from webapp.admin import (  # noqa: F401  (routes)
    audit,
    cycles,
    instrument,
    people,
    schedules,
    sensitive,
    settings,
    sso,
    teams,
    webhooks,
)
from webapp.admin.views import blueprint

__all__ = ["blueprint"]
