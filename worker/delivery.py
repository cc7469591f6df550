"""Delivery tasks: sending invitations and reminders in batches."""
