"""Running CLI commands inside the app, with readable failures and meaningful exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask

from pulse.config import ConfigError
from webapp import create_app

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes: 1 = the request was refused (bad input), 2 = usage, 3 = configuration.
EXIT_REFUSED = 1
EXIT_CONFIG = 3


def make_app() -> Flask:
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
