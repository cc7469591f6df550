"""`pulse tokens`: bearer tokens for the read-only API and for SCIM provisioning."""

from __future__ import annotations

import click

from pulse.tokens.models import TOKEN_KINDS
from pulse.tokens.service import create_token, list_tokens, revoke_token
from webapp.cli.context import with_app
from webapp.extensions import db


@click.group()
def tokens() -> None:
    """Create, list and revoke API and SCIM tokens."""


@tokens.command("create")
@click.option("--kind", type=click.Choice(TOKEN_KINDS), required=True)
@click.option("--name", required=True, help="A name to tell the token apart and revoke it by.")
@click.option(
    "--role",
    type=click.Choice(["admin", "leader"]),
    help="What an API token may read: every group (admin) or a team's subtree (leader).",
)
@click.option("--team", "team_name", help="The team a leader token reads, with its subtree.")
@with_app
def create(kind: str, name: str, role: str | None, team_name: str | None) -> None:
    """Create a token and print it once: only its hash is stored."""
    new = create_token(db.session, kind=kind, name=name, role=role, team_name=team_name)
    db.session.commit()
    scope = ""
    if kind == "api":
        scope = f" reading as {new.token.role}" + (f" of {team_name}" if team_name else "")
    click.echo(f"Token {name!r} ({kind}{scope}). Copy it now: it is not shown again.", err=True)
    click.echo(new.secret)


@tokens.command("revoke")
@click.argument("name")
@with_app
def revoke(name: str) -> None:
    """Revoke a token by name; it stops working at once."""
    revoke_token(db.session, name=name)
    db.session.commit()
    click.echo(f"Token {name!r} revoked.")


@tokens.command("list")
@with_app
def list_command() -> None:
    """The tokens, newest first, without their secrets."""
    for token in list_tokens(db.session):
        scope = token.role or ""
        used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never"
        click.echo(
            f"{token.name}\t{token.kind}\t{scope}\tcreated {token.created_at:%Y-%m-%d}"
            f"\tlast used {used}"
        )
