"""Account links sent by email: password resets and leader invitations."""
