"""Team Pulse domain core: models, instrument, scheduling, scoring, confidentiality, services."""
