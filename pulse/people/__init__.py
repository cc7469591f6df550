"""People: who takes part, who signs in, and with which role."""
