"""Audit: an append-only record of what admins and leaders changed."""
