"""Admin cycle pages: status, participation as rates (only where at least k were invited),
delivery failures by reason, and resending to failed addresses.

No page lists who did or did not answer: participation is counted per team from invitations,
and the only addresses shown are those whose delivery failed, which says nothing about answers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import case, func, select, update
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.confidentiality import participation_visible, round_pct
from pulse.delivery.models import Invitation
from pulse.organisation.service import threshold
from pulse.people.models import Person
from pulse.surveys.models import Cycle
from pulse.teams.tree import team_tree
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


@dataclass(frozen=True)
class TeamParticipation:
    name: str
    depth: int
    invited: int
    rate: int | None  # whole percent, None when fewer than k were invited


def _counts(cycle_id: int) -> dict[int, tuple[int, int]]:
    """Team id → (invited, answered) for one cycle, counted in the database."""
    rows = db.session.execute(
        select(
            Invitation.team_id,
            func.count(),
            func.sum(case((Invitation.answered.is_(True), 1), else_=0)),
        )
        .where(Invitation.cycle_id == cycle_id)
        .group_by(Invitation.team_id)
    ).all()
    return {team_id: (int(invited), int(answered or 0)) for team_id, invited, answered in rows}


def participation_by_team(cycle_id: int, k: int) -> list[TeamParticipation]:
    """Every team that had invitations in its subtree, with a rate only where >= k invited."""
    direct = _counts(cycle_id)
    nodes = team_tree(db.session)
    children: dict[int | None, list[int]] = defaultdict(list)
    for node in nodes:
        children[node.team.parent_id].append(node.team.id)
    totals: dict[int, tuple[int, int]] = {}

    def total(team_id: int) -> tuple[int, int]:
        if team_id not in totals:
            invited, answered = direct.get(team_id, (0, 0))
            for child in children.get(team_id, []):
                child_invited, child_answered = total(child)
                invited += child_invited
                answered += child_answered
            totals[team_id] = (invited, answered)
        return totals[team_id]

    result = []
    for node in nodes:
        invited, answered = total(node.team.id)
        if invited == 0:
            continue
        rate = round_pct(100 * answered / invited) if participation_visible(invited, k) else None
        result.append(TeamParticipation(node.team.name, node.depth, invited, rate))
    return result


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
    rows = []
    counts = dict(
        (cycle_id, (int(invited), int(answered or 0), int(failed or 0)))
        for cycle_id, invited, answered, failed in db.session.execute(
            select(
                Invitation.cycle_id,
                func.count(),
                func.sum(case((Invitation.answered.is_(True), 1), else_=0)),
                func.sum(case((Invitation.delivery_state == "failed", 1), else_=0)),
            ).group_by(Invitation.cycle_id)
        ).all()
    )
    for cycle in db.session.scalars(select(Cycle).order_by(Cycle.opens_at.desc()).limit(200)):
        invited, answered, failed = counts.get(cycle.id, (0, 0, 0))
        rate = round_pct(100 * answered / invited) if participation_visible(invited, k) else None
        rows.append((cycle, invited, rate, failed))
    return render_template("admin/cycles.html", rows=rows, k=k)


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
        k=k,
        participation=participation_by_team(cycle_id, k),
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
