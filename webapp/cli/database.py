"""`pulse db upgrade`: apply migrations and bring the item bank up to date."""

from __future__ import annotations

import click

from webapp.cli.context import with_app

# The schema, the item bank and the app's database are imported when a command runs, so that
# `pulse db --help` stays light.


def upgrade_database() -> int:
    """Migrate to the newest schema and store new item versions; returns items added."""
    from pulse.migrate import upgrade
    from pulse.surveys.bank import sync_item_bank
    from webapp.extensions import db

    upgrade(db.engine)
    added = sync_item_bank(db.session)
    db.session.commit()
    return added


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@with_app
def db_upgrade() -> None:
    """Apply every pending migration (safe to run repeatedly)."""
    from webapp.extensions import db

    added = upgrade_database()
    click.echo(f"Database is up to date ({db.engine.url.render_as_string()}).")
    if added:
        click.echo(f"Stored {added} new item version(s) in the item bank.")
