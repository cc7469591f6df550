"""`pulse aggregate`, `pulse report export` and `pulse report comments`: rebuild aggregates,
print what an admin sees, print what a leader sees of a team's comments."""

from __future__ import annotations

import csv
import json
import random
import sys
from datetime import date
from typing import Any

import click
from flask import current_app
from sqlalchemy import select

from pulse.comments.report import leader_comments, plain
from pulse.organisation.service import threshold as org_threshold
from pulse.reporting.aggregation import aggregate_dirty, rebuild_all, rebuild_steps
from pulse.reporting.queries import cycles_for, export_rows, latest_closed_cycle_id
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
    # What a flag was tested against (docs/statistics.md); null where no test was made.
    "delta",
    "delta_low",
    "delta_high",
    "window",
    "baseline",
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
    # CSV has no nesting: the window and baseline become columns of their own.
    flat = [_flatten(row) for row in out]
    fields = list(flat[0]) if flat else [f for f in EXPORT_FIELDS if f not in _NESTED]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)


_NESTED = {"window": ("cycles", "n"), "baseline": ("cycles", "n", "mean")}


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its nested window and baseline spread into prefixed columns."""
    flat: dict[str, Any] = {}
    for field, value in row.items():
        if field in _NESTED:
            for key in _NESTED[field]:
                flat[f"{field}_{key}"] = None if value is None else value[key]
        else:
            flat[field] = value
    return flat


@report.command("comments")
@click.option("--team", "team_name", required=True, help="The team (or group) a leader leads.")
@click.option(
    "--cycle",
    "cycle_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The cycle that opened on this day (YYYY-MM-DD); the latest closed one by default.",
)
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json")
@with_app
def comments(team_name: str, cycle_day: object, fmt: str) -> None:
    """Print what a leader of the team sees of its comments: masked comments, themes with
    keywords and counts, replies (the dashboard's comments tab, as JSON)."""
    team_id = db.session.scalar(select(Team.id).where(Team.name == team_name))
    if team_id is None:
        raise ValueError(f"no team named {team_name!r}")
    cycles = cycles_for(db.session, team_ids=[team_id])
    if cycle_day is not None:
        day = cycle_day.date()  # type: ignore[attr-defined]
        chosen = [c for c in cycles if c.opened == day]
        if not chosen:
            raise ValueError(f"{team_name} has no cycle that opened on {day.isoformat()}")
        cycle = chosen[0]
    else:
        latest = latest_closed_cycle_id(db.session, team_ids=[team_id])
        found = [c for c in cycles if c.id == latest]
        if not found:
            raise ValueError(f"{team_name} has no closed cycle yet")
        cycle = found[0]
    view = leader_comments(
        db.session,
        team_id=team_id,
        cycle_id=cycle.id,
        threshold=current_threshold(),
        rng=random.Random(),
    )
    out = {"team": team_name, "cycle": cycle.opened.isoformat(), **plain(view)}
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
