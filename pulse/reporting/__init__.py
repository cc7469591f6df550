"""Reporting: aggregates written by workers and the queries every report reads through."""
