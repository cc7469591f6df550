"""The public answer page reached from the emailed link (no sign-in)."""

from webapp.survey.views import blueprint, is_answer_page

__all__ = ["blueprint", "is_answer_page"]
