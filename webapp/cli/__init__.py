"""The `pulse` command line: run the service, migrate, seed, manage users, tick.

Each subcommand's module is imported only when that subcommand runs (click's lazy group), and
`pulse --help` lists them from the table below without importing any: a command line that
imported the whole web app (Dash, scipy, SCIM, Celery) took about 3 s to print its help.
A test checks that each summary here is the command's own.
"""

from __future__ import annotations

import importlib
import logging

import click

from pulse.config import load_env_file

# name: (module:attribute, one-line summary shown by `pulse --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "aggregate": (
        "webapp.cli.reporting:aggregate",
        "Aggregate answers: what is marked dirty, or everything with --all.",
    ),
    "audit": ("webapp.cli.audit:audit", "Audits anyone with access to the database can run."),
    "db": ("webapp.cli.database:db_group", "Database schema commands."),
    "demo": (
        "webapp.cli.demo:demo",
        "Create the demo organisation with a year of history and an open cycle.",
    ),
    "people": ("webapp.cli.people:people", "Manage the people who are invited to answer."),
    "report": ("webapp.cli.reporting:report", "Reports as an admin sees them."),
    "run": (
        "webapp.cli.run:run",
        "Migrate, seed the demo, and run Redis, a Celery worker with beat, and the web server.",
    ),
    "tick": (
        "webapp.cli.scheduling:tick",
        "Open due cycles, send invitations and due reminders, close finished cycles, once.",
    ),
    "tokens": ("webapp.cli.tokens:tokens", "Create, list and revoke API and SCIM tokens."),
    "users": ("webapp.cli.accounts:users", "Manage people who sign in."),
}


def load_command(name: str) -> click.Command:
    """Import the module of one subcommand and return the command."""
    module, attribute = COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name][0]} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing loads every command for its summary; the table has them.
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        # A bare command per summary, for click's own shortening of it.
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, summary) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Team Pulse: recurring, anonymous pulse surveys for teams."""
    # Before any command reads its settings, and before `pulse run` hands its environment to
    # the web server and the worker, which then see the same values.
    load_env_file()
    # Alembic logs each plugin it sets up (on import) and each migration step at INFO: a
    # screenful on every `pulse db upgrade` and at the top of `pulse run`. Its warnings and
    # errors still show; `pulse db upgrade` says itself that the database is up to date.
    logging.getLogger("alembic").setLevel(logging.WARNING)
