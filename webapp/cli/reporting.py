"""`pulse aggregate` and `pulse report export`: rebuild aggregates, print what an admin sees."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date

import click
from flask import current_app
from sqlalchemy import select

from pulse.organisation.service import threshold as org_threshold
from pulse.reporting.aggregation import aggregate_dirty, rebuild_all, rebuild_steps
from pulse.reporting.queries import export_rows
from pulse.teams.models import Team
from pulse.teams.service import subtree_ids
from webapp.cli.context import with_app
from webapp.extensions import db

EXPORT_FIELDS = (
    "team",
    "parent",
    "cycle",
    "theme",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "favourable_pct",
    "fav_low",
    "fav_high",
    "change",
    "suppressed",
    "reason",
    "state",
)


def current_threshold() -> int:
    """The threshold k in force: the organisation's setting, else the configured default."""
    return org_threshold(db.session, default=current_app.config["PULSE"].threshold)


def rebuild_with_progress() -> int:
    """Rebuild every aggregate with a progress bar; commits; returns the cycles done."""
    k = current_threshold()
    with click.progressbar(length=rebuild_steps(db.session), label="Aggregating") as bar:
        cycles = rebuild_all(db.session, threshold=k, progress=bar.update)
    db.session.commit()
    return cycles


@click.command()
@click.option("--all", "everything", is_flag=True, help="Rebuild every aggregate of every cycle.")
@with_app
def aggregate(everything: bool) -> None:
    """Aggregate answers: what is marked dirty, or everything with --all."""
    if everything:
        cycles = rebuild_with_progress()
        click.echo(f"Rebuilt the aggregates of {cycles} cycles.")
        return
    processed = aggregate_dirty(db.session, threshold=current_threshold())
    db.session.commit()
    click.echo(f"Aggregated {processed} team × cycles marked dirty.")


@click.group()
def report() -> None:
    """Reports as an admin sees them."""


@report.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="json")
@click.option("--team", "team_name", help="Only this team (or group) and the groups inside it.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only cycles that opened on or after this date (YYYY-MM-DD).",
)
@with_app
def export(fmt: str, team_name: str | None, since: object) -> None:
    """Print theme scores with suppression applied, through the dashboard's queries."""
    team_ids = set(db.session.scalars(select(Team.id)))
    if team_name is not None:
        team_id = db.session.scalar(select(Team.id).where(Team.name == team_name))
        if team_id is None:
            raise ValueError(f"no team named {team_name!r}")
        team_ids = subtree_ids(db.session, team_ids={team_id})
    start: date | None = since.date() if since is not None else None  # type: ignore[attr-defined]
    rows = export_rows(db.session, team_ids=team_ids, threshold=current_threshold(), since=start)
    out = [{field: row[field] for field in EXPORT_FIELDS} for row in rows]
    if fmt == "json":
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(out)
