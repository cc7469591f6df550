"""The team report: the leader's page, its PDF, and the page a shared link opens."""

from webapp.reports.views import blueprint

__all__ = ["blueprint"]
