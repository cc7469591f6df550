"""`pulse people import FILE`: bring people, teams and leaders in from a CSV file."""

from __future__ import annotations

from pathlib import Path

import click

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.people.importer import ImportRejected, import_people
from webapp.cli.context import EXIT_REFUSED, with_app
from webapp.extensions import db


@click.group()
def people() -> None:
    """Manage the people who are invited to answer."""


@people.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change.")
@click.option(
    "--deactivate-missing",
    is_flag=True,
    help="Deactivate (never delete) people who are not in the file; admins are kept.",
)
@with_app
def import_command(file: Path, dry_run: bool, deactivate_missing: bool) -> None:
    """Import people from FILE (CSV: email,name,team[,department][,role]); all or nothing."""
    try:
        report = import_people(
            db.session,
            content=file.read_bytes(),
            on=utcnow().date(),
            deactivate_missing=deactivate_missing,
        )
    except ImportRejected as exc:
        db.session.rollback()
        for error in exc.errors:
            click.secho(str(error), fg="red", err=True)
        click.secho(f"{len(exc.errors)} error(s); nothing was imported.", fg="red", err=True)
        raise SystemExit(EXIT_REFUSED) from None
    if dry_run:
        db.session.rollback()
    else:
        detail = {"file": file.name, "deactivate_missing": deactivate_missing, **report.as_dict()}
        record(db.session, actor=None, action="people.import", target=file.name, detail=detail)
        db.session.commit()
    prefix = "Dry run, nothing written. Would have: " if dry_run else "Imported: "
    click.echo(
        f"{prefix}{report.rows} rows; people {report.people_created} created, "
        f"{report.people_updated} updated, {report.people_unchanged} unchanged, "
        f"{report.people_deactivated} deactivated; teams {report.teams_created} created, "
        f"{report.teams_moved} moved; memberships {report.memberships_started} started, "
        f"{report.memberships_ended} ended; {report.leaders_granted} leader role(s) granted."
    )
    if report.leaders_without_password:
        click.echo(
            f"{len(report.leaders_without_password)} leader(s) have no password yet: "
            "invite them from Admin → Teams."
        )
