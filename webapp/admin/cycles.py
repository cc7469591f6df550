"""Admin cycle pages: status, participation as the dashboard shows it, delivery failures by
reason, and resending to failed addresses.

Participation comes from the dashboard's own query (pulse.reporting.queries.participation_rows),
never from counting invitations here: an admin sees what the organisation's leaders see and no
more. Counted here, a rate beside its number invited would give away the respondents of a group
the dashboard hides, and during an open cycle each single answer would show as a step. So a
closed cycle shows exact figures only for groups whose results are shown, an open cycle only a
rate rounded down to coarse steps, and every hidden figure says why in the dashboard's words.

No page lists who did or did not answer. Delivery failures are counted per cycle and by reason,
never per team, and the only addresses shown are those whose delivery failed, which says
nothing about answers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select, update
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.delivery.models import Invitation
from pulse.organisation.service import threshold
from pulse.people.models import Person
from pulse.reporting.queries import ParticipationRow, participation_rows
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from webapp.admin.forms import ActionForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db

log = logging.getLogger(__name__)


def enqueue(name: str, args: list[object] | None = None) -> bool:
    """Send a task to the workers; False (logged) when the broker cannot be reached.

    The change that asked for the task is already committed; the periodic sweep catches up.
    """
    try:
        current_app.extensions["celery"].send_task(name, args=args or [])
    except Exception as exc:  # the broker's own errors vary by transport
        log.warning("could not queue %s: %s", name, exc)
        return False
    return True


# Where the query gives neither a figure nor a reason (the number invited is hidden to protect
# another group, so no rate may stand beside it), the page still says that it is withheld.
WITHHELD = "not shown, to protect a smaller group's anonymity"
NOT_SHOWN = "not shown"


@dataclass(frozen=True)
class ParticipationLine:
    """One group's participation as the pages show it: its figures where the dashboard shows
    them, otherwise the reason they are hidden."""

    name: str
    depth: int
    invited: str
    participation: str


def _rate_text(row: ParticipationRow) -> str:
    """The rate as the row allows it, or why it is hidden.

    A rate that comes with a state is an open cycle's coarse one, rounded down to a step: it is
    written as the lower bound it is, so that nobody reads it as the exact share.
    """
    if row.rate is None:
        return row.reason or WITHHELD
    if row.state is None or row.rate >= 100:
        return f"{row.rate}%"
    if row.rate == 0:
        return "under 10%"
    return f"at least {row.rate}%"


def _line(row: ParticipationRow, *, name: str | None = None, depth: int = 0) -> ParticipationLine:
    return ParticipationLine(
        name=row.team if name is None else name,
        depth=depth,
        invited=NOT_SHOWN if row.invited is None else str(row.invited),
        participation=_rate_text(row),
    )


def _tree_order() -> dict[int, tuple[int, int]]:
    """Team id → (place in the tree read depth first, by name; depth), so the page reads as a
    tree with each group above the teams it includes."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for team_id, parent_id in db.session.execute(
        select(Team.id, Team.parent_id).order_by(Team.name, Team.id)
    ):
        children[parent_id].append(team_id)
    order: dict[int, tuple[int, int]] = {}
    stack = [(team_id, 0) for team_id in reversed(children[None])]
    while stack:
        team_id, depth = stack.pop()
        if team_id in order:
            continue
        order[team_id] = (len(order), depth)
        stack.extend((child, depth + 1) for child in reversed(children.get(team_id, [])))
    return order


def participation_by_group(cycle_id: int, k: int) -> list[ParticipationLine]:
    """Every group with participation figures in the cycle, in tree order, as leaders see it."""
    order = _tree_order()
    rows = participation_rows(db.session, team_ids=list(order), threshold=k, cycle_ids=[cycle_id])
    # A group missing from today's tree (the cycle keeps the tree it opened with) goes last.
    rows.sort(key=lambda row: (order.get(row.team_id, (len(order), 0))[0], row.team.lower()))
    return [_line(row, depth=order.get(row.team_id, (0, 0))[1]) for row in rows]


def organisation_participation(
    cycle_ids: Iterable[int], k: int
) -> dict[int, list[ParticipationLine]]:
    """Cycle id → the organisation's participation (the root group's row, as leaders see it)."""
    cycles = list(cycle_ids)
    roots = list(db.session.scalars(select(Team.id).where(Team.parent_id.is_(None))))
    if not cycles or not roots:
        return {}
    rows = participation_rows(db.session, team_ids=roots, threshold=k, cycle_ids=cycles)
    found: dict[int, list[ParticipationRow]] = defaultdict(list)
    for row in rows:
        found[row.cycle_id].append(row)
    # One organisation is the rule; should there be more roots, each is named.
    return {
        cycle_id: [_line(row, name=row.team if len(group) > 1 else "") for row in group]
        for cycle_id, group in found.items()
    }


def delivery_failures(cycle_id: int) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """Failed deliveries grouped by reason (most first), and the failed addresses."""
    by_reason = [
        (reason or "unknown", int(n))
        for reason, n in db.session.execute(
            select(Invitation.last_error, func.count())
            .where(Invitation.cycle_id == cycle_id, Invitation.delivery_state == "failed")
            .group_by(Invitation.last_error)
            .order_by(func.count().desc())
        ).all()
    ]
    addresses = [
        (email, reason or "unknown")
        for email, reason in db.session.execute(
            select(Person.email, Invitation.last_error)
            .join(Person, Person.id == Invitation.person_id)
            .where(Invitation.cycle_id == cycle_id, Invitation.delivery_state == "failed")
            .order_by(Person.email)
        ).all()
    ]
    return by_reason, addresses


@blueprint.route("/cycles")
@admin_required
def cycles() -> str:
    k = threshold(db.session, default=current_app.config["PULSE"].threshold)
    found = list(db.session.scalars(select(Cycle).order_by(Cycle.opens_at.desc()).limit(200)))
    failed = {
        cycle_id: int(n)
        for cycle_id, n in db.session.execute(
            select(Invitation.cycle_id, func.count())
            .where(
                Invitation.cycle_id.in_([c.id for c in found]),
                Invitation.delivery_state == "failed",
            )
            .group_by(Invitation.cycle_id)
        ).all()
    }
    participation = organisation_participation((c.id for c in found), k)
    rows = [(c, participation.get(c.id, []), failed.get(c.id, 0)) for c in found]
    return render_template("admin/cycles.html", rows=rows)


@blueprint.route("/cycles/<int:cycle_id>")
@admin_required
def cycle(cycle_id: int) -> str:
    found = db.session.get(Cycle, cycle_id)
    if found is None:
        abort(404, description="There is no such cycle.")
    k = threshold(db.session, default=current_app.config["PULSE"].threshold)
    by_reason, addresses = delivery_failures(cycle_id)
    return render_template(
        "admin/cycle.html",
        cycle=found,
        participation=participation_by_group(cycle_id, k),
        by_reason=by_reason,
        addresses=addresses,
        action=ActionForm(formdata=None),
    )


@blueprint.route("/cycles/<int:cycle_id>/resend", methods=["POST"])
@admin_required
def cycle_resend(cycle_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    found = db.session.get(Cycle, cycle_id)
    if found is None:
        abort(404, description="There is no such cycle.")
    if found.status != "open":
        abort(409, description="This cycle is closed; its invitations can no longer be sent.")
    # Attempts are kept: the delivery task's back-off and its history stay truthful.
    result = db.session.execute(
        update(Invitation)
        .where(Invitation.cycle_id == cycle_id, Invitation.delivery_state == "failed")
        .values(delivery_state="pending")
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    record(
        db.session,
        actor=current_user.person(),
        action="cycle.resend_failed",
        target=f"cycle {found.id} {found.period_key}",
        detail={"invitations": count},
    )
    db.session.commit()
    queued = enqueue("worker.delivery.send_invitations", [cycle_id]) if count else True
    if not count:
        flash("There were no failed deliveries to resend.", "info")
    elif queued:
        flash(f"{count} invitation(s) will be sent again.", "success")
    else:
        flash(
            f"{count} invitation(s) are waiting to be sent again; the task queue is not "
            "reachable right now, so they go out with the next delivery run.",
            "warning",
        )
    return redirect(url_for("admin.cycle", cycle_id=cycle_id))
