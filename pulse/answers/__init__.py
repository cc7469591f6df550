"""Answers: the anonymous side of the data. Nothing here names a person or an invitation."""
