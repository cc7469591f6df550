"""Teams: the organisation tree and who belongs where."""
