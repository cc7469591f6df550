"""`pulse users create`: accounts for admins and leaders."""

from __future__ import annotations

import sys

import click

from webapp.cli.context import with_app


@click.group()
def users() -> None:
    """Manage people who sign in."""


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "leader"]), required=True)
@click.option("--team", "team_name", help="The team a leader leads (with its subtree).")
@click.option("--name", help="Display name (defaults to the part before @).")
@with_app
def create(email: str, role: str, team_name: str | None, name: str | None) -> None:
    """Create a person who can sign in, or give an existing one a password and role.

    The password is read from standard input when it is not a terminal, prompted otherwise.
    """
    # Here rather than at the top: `pulse users --help` needs none of it.
    from pulse.audit.service import record
    from pulse.people.service import create_user
    from webapp.extensions import db

    password = _read_password()
    person = create_user(
        db.session, email=email, password=password, role=role, team_name=team_name, name=name
    )
    record(
        db.session,
        actor=None,
        action="user.create",
        target=person.email,
        detail={"role": role, "team": team_name},
    )
    db.session.commit()
    where = f" of {team_name}" if team_name else ""
    click.echo(f"{person.email} can now sign in as {role}{where}.")
