"""Delivery: invitations, their links and the mail that carries them."""
