"""Signing in and out, and the role checks every protected page uses."""

from webapp.auth.views import blueprint

__all__ = ["blueprint"]
