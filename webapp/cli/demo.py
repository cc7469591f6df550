"""`pulse demo`: seed the demo organisation (idempotent)."""

from __future__ import annotations

import click

from pulse import demo as demo_data
from webapp.cli.context import with_app
from webapp.cli.database import upgrade_database
from webapp.cli.reporting import rebuild_with_progress
from webapp.extensions import db


def print_sign_ins() -> None:
    click.echo("Demo sign-ins (password for all: " + demo_data.DEMO_PASSWORD + "):")
    for email, role, team in demo_data.SIGN_INS:
        scope = f" of {team}" if team else ""
        click.echo(f"  {email:<40} {role}{scope}")


def seed_demo(seed: int) -> bool:
    """Seed the demo into the current app's database; False when it was already there."""
    if demo_data.is_present(db.session):
        return False
    with click.progressbar(length=demo_data.CYCLES + 1, label="Seeding a year of pulses") as bar:
        created = demo_data.seed(db.session, seed=seed, progress=bar.update)
    db.session.commit()
    rebuild_with_progress()  # a fresh demo comes with its aggregates
    return created


@click.command()
@click.option("--seed", default=7, show_default=True, help="Random seed for the demo data.")
@click.option(
    "--sign-ins/--no-sign-ins",
    default=True,
    hidden=True,
    help="List the demo sign-ins (`pulse run` lists them itself, under the URL).",
)
@with_app
def demo(seed: int, sign_ins: bool) -> None:
    """Create the demo organisation with a year of history and an open cycle."""
    upgrade_database()
    if seed_demo(seed):
        click.echo(f"Demo organisation {demo_data.ORGANISATION!r} created.")
    else:
        click.echo("The demo organisation is already there; nothing changed.")
    if sign_ins:
        print_sign_ins()
