"""Sharing a closed cycle's team report with the team: token links, their emails, the report."""
