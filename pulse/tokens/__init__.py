"""Bearer tokens for the read-only API and SCIM provisioning: created once, stored hashed."""
