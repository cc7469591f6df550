"""The `pulse` command line: run the service, migrate, seed, manage users, tick."""

from __future__ import annotations

import click

from pulse.config import load_env_file
from webapp.cli.accounts import users
from webapp.cli.audit import audit
from webapp.cli.database import db_group
from webapp.cli.demo import demo
from webapp.cli.people import people
from webapp.cli.reporting import aggregate, report
from webapp.cli.run import run
from webapp.cli.scheduling import tick
from webapp.cli.tokens import tokens


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Team Pulse: recurring, anonymous pulse surveys for teams."""
    # Before any command reads its settings, and before `pulse run` hands its environment to
    # the web server and the worker, which then see the same values.
    load_env_file()


for command in (run, db_group, demo, users, people, tick, aggregate, report, audit, tokens):
    main.add_command(command)
