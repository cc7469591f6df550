"""Test infrastructure: real PostgreSQL, Redis and SMTP servers started for the suite."""
