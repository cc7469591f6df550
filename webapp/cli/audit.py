"""`pulse audit disclosure`: prove that no hidden figure can be worked out from shown ones.

Exit codes: 0 when no hidden quantity is determined, 1 when some is (each is listed), 2 for
an unknown --role-of email. The output names cycles, measures and groups, never a hidden
value: the audit is meant to be run and shared.
"""

from __future__ import annotations

import time

import click

from pulse.reporting.audit import Audit, AuditResult, UnknownPerson
from webapp.cli.context import with_app
from webapp.cli.reporting import current_threshold
from webapp.extensions import db


@click.group()
def audit() -> None:
    """Audits anyone with access to the database can run."""


def _quantities(n: int) -> str:
    return f"{n} hidden quantity" if n == 1 else f"{n} hidden quantities"


def print_result(result: AuditResult, *, seconds: float) -> None:
    """The audit's figures and each determined quantity, in plain words."""
    click.echo("Disclosure audit: every figure each role can obtain through the reports,")
    click.echo("checked by linear algebra against every figure the reports hide.")
    click.echo(f"  Roles audited:             {result.roles}")
    click.echo(f"  Cycles:                    {result.cycles}")
    click.echo(f"  Published figures:         {result.exact} exact, {result.inexact} inexact")
    click.echo("                             (inexact: coarse participation rates that fit")
    click.echo("                             more than one number of respondents)")
    click.echo(f"  Hidden quantities checked: {result.hidden}")
    click.echo(f"  Determined hidden quantities: {len(result.determined)}")
    for found in result.determined:
        click.echo(f"  - {found.cycle}, {found.measure_words}, group {found.group!r}")
        click.echo(f"      shown as: {found.state}")
        click.echo(f"      can be worked out by: {', '.join(found.roles)}")
        if found.shown_by:
            click.echo(f"      shown outright by: {', '.join(found.shown_by)}")
        else:
            click.echo("      by adding and subtracting published figures")
    if result.determined:
        click.secho(
            f"FAILED: {_quantities(len(result.determined))} can be worked out.",
            fg="red",
        )
    else:
        click.secho("PASSED: no hidden quantity can be worked out.", fg="green")
    click.echo(f"Took {seconds:.1f} s.")


@audit.command("disclosure")
@click.option(
    "--role-of",
    "role_of",
    metavar="EMAIL",
    help="Only the role of this person: what they can see as admin or leader.",
)
@with_app
def disclosure(role_of: str | None) -> None:
    """Check that no hidden figure is determined by what any role can see."""
    started = time.perf_counter()
    run = Audit(role_of=role_of)
    try:
        run.gather(db.session, threshold=current_threshold())
    except UnknownPerson as exc:
        raise click.BadParameter(str(exc), param_hint="--role-of") from None
    finally:
        db.session.rollback()  # the audit only reads
    result = run.check()
    print_result(result, seconds=time.perf_counter() - started)
    if result.determined:
        raise SystemExit(1)
