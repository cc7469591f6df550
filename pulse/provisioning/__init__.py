"""Provisioning from an identity provider (SCIM): people, teams and memberships only."""
