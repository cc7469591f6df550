"""Running CLI commands inside the app, with readable failures and meaningful exit codes.

Light on purpose: every command module imports this, and the app (Flask, the dashboard,
Celery) is built only when a command that needs it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pulse.config import ConfigError

if TYPE_CHECKING:
    from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes: 1 = the request was refused (bad input), 2 = usage, 3 = configuration.
EXIT_REFUSED = 1
EXIT_CONFIG = 3


def make_app() -> Flask:
    from webapp import create_app

    try:
        return create_app()
    except ConfigError as exc:
        click.secho(f"Configuration error: {exc}", fg="red", err=True)
        raise SystemExit(EXIT_CONFIG) from None


def with_app(command: F) -> F:
    """Run the command in an app context; ValueErrors become a clear message and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = make_app()
        with app.app_context():
            try:
                return command(*args, **kwargs)
            except ValueError as exc:
                click.secho(f"Error: {exc}", fg="red", err=True)
                raise SystemExit(EXIT_REFUSED) from None

    return wrapper  # type: ignore[return-value]
