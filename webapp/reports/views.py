"""Team report routes: `/reports/teams/<team>/cycles/<cycle>` (page, `.pdf`, share) for
leaders and admins, and `/shared/<token>` for the team, with no sign-in.

The leader's routes answer 404 for a team outside the viewer's scope, the way the dashboard
treats an id it was not offered, and 409 for a cycle that has not closed (its results are
sealed). The shared page answers 404 for any link that does not open a live share, and
writes nothing; it is rate-limited, never cached, and sends no Referer, since its URL holds
the token (which the logs redact, webapp.log_redaction).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from pulse.organisation.service import threshold
from pulse.people.models import Person
from pulse.reporting.queries import was_surveyed
from pulse.sharing.report import TeamReport, build_team_report
from pulse.sharing.service import (
    ShareRefused,
    revoke_share,
    share_for_token,
    share_report,
    share_status,
)
from pulse.surveys.models import Cycle
from pulse.teams.service import visible_team_ids
from webapp.auth.access import leader_required
from webapp.extensions import db, limiter

blueprint = Blueprint("reports", __name__)

SEND_SHARE_TASK = "worker.sharing.send_share"
SHARED_PAGE_LIMIT = "30 per minute; 300 per hour"
MAX_ID = 2**31 - 1


def _k() -> int:
    return threshold(db.session, default=current_app.config["PULSE"].threshold)


def _in_scope(team_id: int, cycle_id: int) -> tuple[Person, Cycle]:
    """The viewer and the cycle, or 404 where the team is not theirs or was not surveyed."""
    if cycle_id > MAX_ID:  # beyond any id the database holds (PostgreSQL's integer)
        abort(404)
    person = db.session.get(Person, current_user.person_id)
    if person is None or team_id not in visible_team_ids(db.session, person=person):
        abort(404)
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None or not was_surveyed(db.session, team_ids=[team_id], cycle_id=cycle_id):
        abort(404)
    return person, cycle


def _not_closed(cycle: Cycle) -> tuple[str, int]:
    page = render_template("reports/not_closed.html", cycle=cycle)
    return page, 409


def _report(team_id: int, cycle: Cycle, *, with_comments: bool) -> TeamReport:
    return build_team_report(
        db.session, team_id=team_id, cycle=cycle, threshold=_k(), with_comments=with_comments
    )


@blueprint.route("/reports/teams/<int:team_id>/cycles/<int:cycle_id>")
@leader_required
def team_report(team_id: int, cycle_id: int) -> str | tuple[str, int]:
    _, cycle = _in_scope(team_id, cycle_id)
    if cycle.status != "closed":
        return _not_closed(cycle)
    report = _report(team_id, cycle, with_comments=True)
    status = share_status(db.session, team_id=team_id, cycle_id=cycle_id)
    return render_template("reports/team.html", report=report, status=status)


@blueprint.route("/reports/teams/<int:team_id>/cycles/<int:cycle_id>.pdf")
@leader_required
def team_report_pdf(team_id: int, cycle_id: int) -> WerkzeugResponse | tuple[str, int]:
    _, cycle = _in_scope(team_id, cycle_id)
    if cycle.status != "closed":
        return _not_closed(cycle)
    # For the team meeting: comments stay out, as on the shared page.
    report = _report(team_id, cycle, with_comments=False)
    html = render_template("reports/print.html", report=report)
    # Imported here, not at the top: WeasyPrint and its CSS engine are about a tenth of the
    # app's import time (3.1 of 28.7 s measured with `python -X importtime` on a loaded
    # machine), which every web and worker process would otherwise pay at start-up.
    from webapp.reports.pdf import render_pdf

    pdf = render_pdf(html, static_folder=current_app.static_folder or "")
    name = f"team-report-{team_id}-{report.opened.isoformat()}.pdf"
    return current_app.response_class(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blueprint.route("/reports/teams/<int:team_id>/cycles/<int:cycle_id>/share", methods=["POST"])
@leader_required
def share(team_id: int, cycle_id: int) -> WerkzeugResponse | tuple[str, int]:
    person, cycle = _in_scope(team_id, cycle_id)
    if cycle.status != "closed":
        return _not_closed(cycle)
    settings = current_app.config["PULSE"]
    try:
        shared, created = share_report(
            db.session,
            team_id=team_id,
            cycle_id=cycle_id,
            actor=person,
            secret=settings.secret_key,
            threshold=_k(),
        )
    except ShareRefused as exc:
        db.session.rollback()
        flash(str(exc), "warning")
        return redirect(url_for(".team_report", team_id=team_id, cycle_id=cycle_id))
    db.session.commit()
    # Queued on every press: a share whose emails were lost (the broker was down) goes out
    # now, and one already sent sends nothing more (each person's delivery is claimed once).
    queued = _queue_emails(shared.id)
    if created:
        flash(
            "Shared with the team: everyone invited to this pulse gets the link by email.",
            "success",
        )
    else:
        flash("Already shared: nobody is emailed twice.", "info")
    if not queued:
        flash("The emails could not be queued just now; press Share again shortly.", "warning")
    return redirect(url_for(".team_report", team_id=team_id, cycle_id=cycle_id))


@blueprint.route("/reports/teams/<int:team_id>/cycles/<int:cycle_id>/share/stop", methods=["POST"])
@leader_required
def stop_sharing(team_id: int, cycle_id: int) -> WerkzeugResponse:
    person, _ = _in_scope(team_id, cycle_id)
    stopped = revoke_share(db.session, team_id=team_id, cycle_id=cycle_id, actor=person)
    db.session.commit()
    if stopped is not None:
        flash("Sharing stopped: the team's link no longer opens the report.", "success")
    return redirect(url_for(".team_report", team_id=team_id, cycle_id=cycle_id))


def _queue_emails(share_id: int) -> bool:
    try:
        current_app.extensions["celery"].send_task(SEND_SHARE_TASK, args=[share_id], retry=False)
    except Exception as exc:  # any broker failure: the share stands, the leader can press again
        current_app.logger.warning("could not queue the share's emails: %s", exc)
        return False
    return True


@blueprint.route("/shared/<token>")
@limiter.limit(SHARED_PAGE_LIMIT)
def shared(token: str) -> tuple[str, int]:
    found = share_for_token(db.session, token=token)
    if found is None:
        db.session.rollback()
        return render_template("reports/shared_missing.html"), 404
    cycle = db.session.get(Cycle, found.cycle_id)
    if cycle is None or cycle.status != "closed":
        return render_template("reports/shared_missing.html"), 404
    report = _report(found.team_id, cycle, with_comments=False)
    db.session.rollback()
    return render_template("reports/shared.html", report=report, share=found), 200


@blueprint.after_app_request
def _shared_page_is_neither_referred_nor_stored(response: WerkzeugResponse) -> WerkzeugResponse:
    """Every response under `/shared/` (the page, a 404, a 405, a 429) keeps its URL, which
    holds the token, out of Referer headers and out of every cache."""
    if request.path.startswith("/shared/"):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response
