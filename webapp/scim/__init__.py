"""SCIM 2.0 at /scim/v2, served by scim2-server over Team Pulse's database."""

from webapp.scim.application import mount_scim

__all__ = ["mount_scim"]
