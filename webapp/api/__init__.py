"""The read-only JSON API at /api/v1: what a token's role may see, as the dashboard shows it."""

from webapp.api.views import blueprint

__all__ = ["blueprint"]
