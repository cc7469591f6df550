"""Team Pulse web app. `create_app` (webapp/composition.py) is imported on first use.

Importing the package, as `pulse --help` and every light CLI command does, must not load
what the composition root wires in (Dash, scipy, SCIM, Celery): that took about 3 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webapp.composition import create_app as create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from webapp.composition import create_app

        return create_app
    raise AttributeError(f"module 'webapp' has no attribute {name!r}")
