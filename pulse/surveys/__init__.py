"""Surveys: the item bank, schedules and the cycles they open."""
