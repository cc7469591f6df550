"""Outgoing webhooks: events of the survey calendar, signed as Standard Webhooks describes."""
