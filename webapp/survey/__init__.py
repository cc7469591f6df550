"""The public answer page reached from the emailed link (no sign-in)."""

from webapp.survey.views import blueprint

__all__ = ["blueprint"]
