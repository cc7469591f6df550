"""Admin pages: people, teams, schedules, cycles, settings and the audit log."""

from webapp.admin.views import blueprint

__all__ = ["blueprint"]
