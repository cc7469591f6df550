"""Admin team pages: the tree; create, rename, move, archive teams; leaders and invitations."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from pulse.accounts.service import invite_leader
from pulse.audit.service import record
from pulse.delivery.mail import PermanentMailError, TemporaryMailError
from pulse.people.models import Person
from pulse.people.service import find_by_email
from pulse.teams.tree import (
    TreeError,
    archive_team,
    assign_leader,
    create_team,
    get_team,
    leaders_of,
    move_team,
    remove_leader,
    rename_team,
    restore_team,
    team_tree,
)
from webapp.admin.forms import (
    ActionForm,
    InviteLeaderForm,
    LeaderForm,
    MoveTeamForm,
    RenameTeamForm,
    TeamCreateForm,
)
from webapp.admin.people import team_choices
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db


def _actor() -> Person:
    person: Person = current_user.person()
    return person


def _tree_page(*, status: int = 200, create: TeamCreateForm | None = None) -> tuple[str, int]:
    form = create or TeamCreateForm(formdata=None)
    form.parent_id.choices = team_choices()
    return render_template("admin/teams.html", nodes=team_tree(db.session), create=form), status


@blueprint.route("/teams", methods=["GET", "POST"])
@admin_required
def teams() -> Response | tuple[str, int]:
    form = TeamCreateForm()
    form.parent_id.choices = team_choices()
    if not form.is_submitted():
        return _tree_page()
    if not form.validate():
        return _tree_page(status=422, create=form)
    try:
        team = create_team(
            db.session, name=form.name.data, parent_id=form.parent_id.data, kind=form.kind.data
        )
    except TreeError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _tree_page(status=422, create=form)
    record(
        db.session,
        actor=_actor(),
        action="team.create",
        target=team.name,
        detail={"kind": team.kind, "parent_id": team.parent_id},
    )
    db.session.commit()
    flash(f"Created {team.name}.", "success")
    return redirect(url_for("admin.team", team_id=team.id))


def _team_page(team_id: int, *, status: int = 200, **forms: Any) -> tuple[str, int]:
    try:
        team = get_team(db.session, team_id=team_id)
    except TreeError:
        abort(404, description="There is no such team.")
    move = forms.get("move") or MoveTeamForm(formdata=None)
    move.parent_id.choices = [c for c in team_choices() if c[0] != team.id]
    invite = InviteLeaderForm(formdata=None, team_id=team.id)
    invite.team_id.choices = team_choices()
    return render_template(
        "admin/team.html",
        team=team,
        rename=forms.get("rename") or RenameTeamForm(formdata=None, name=team.name),
        move=move,
        leader=forms.get("leader") or LeaderForm(formdata=None),
        invite=invite,
        action=ActionForm(formdata=None),
        leaders=leaders_of(db.session, team_id=team.id),
    ), status


@blueprint.route("/teams/<int:team_id>")
@admin_required
def team(team_id: int) -> tuple[str, int]:
    return _team_page(team_id)


def _refused(team_id: int, exc: Exception, **forms: Any) -> tuple[str, int]:
    db.session.rollback()
    flash(str(exc), "danger")
    return _team_page(team_id, status=422, **forms)


@blueprint.route("/teams/<int:team_id>/rename", methods=["POST"])
@admin_required
def team_rename(team_id: int) -> Response | tuple[str, int]:
    form = RenameTeamForm()
    if not form.validate_on_submit():
        return _team_page(team_id, status=422, rename=form)
    try:
        old = get_team(db.session, team_id=team_id).name
        team = rename_team(db.session, team_id=team_id, name=form.name.data)
    except TreeError as exc:
        return _refused(team_id, exc, rename=form)
    record(db.session, actor=_actor(), action="team.rename", target=team.name, detail={"from": old})
    db.session.commit()
    flash("Renamed.", "success")
    return redirect(url_for("admin.team", team_id=team_id))


@blueprint.route("/teams/<int:team_id>/move", methods=["POST"])
@admin_required
def team_move(team_id: int) -> Response | tuple[str, int]:
    form = MoveTeamForm()
    form.parent_id.choices = team_choices()
    if not form.validate_on_submit():
        return _team_page(team_id, status=422, move=form)
    try:
        team = move_team(db.session, team_id=team_id, parent_id=form.parent_id.data)
    except TreeError as exc:
        return _refused(team_id, exc, move=form)
    parent = get_team(db.session, team_id=form.parent_id.data)
    record(
        db.session,
        actor=_actor(),
        action="team.move",
        target=team.name,
        detail={"parent": parent.name},
    )
    db.session.commit()
    flash(f"Moved under {parent.name}.", "success")
    return redirect(url_for("admin.team", team_id=team_id))


@blueprint.route("/teams/<int:team_id>/archive", methods=["POST"])
@admin_required
def team_archive(team_id: int) -> Response | tuple[str, int]:
    return _archive(team_id, archive=True)


@blueprint.route("/teams/<int:team_id>/restore", methods=["POST"])
@admin_required
def team_restore(team_id: int) -> Response | tuple[str, int]:
    return _archive(team_id, archive=False)


def _archive(team_id: int, *, archive: bool) -> Response | tuple[str, int]:
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    try:
        change = archive_team if archive else restore_team
        team = change(db.session, team_id=team_id)
    except TreeError as exc:
        return _refused(team_id, exc)
    action = "team.archive" if archive else "team.restore"
    record(db.session, actor=_actor(), action=action, target=team.name)
    db.session.commit()
    flash("Archived: no new invitations; history kept." if archive else "Restored.", "success")
    return redirect(url_for("admin.team", team_id=team_id))


@blueprint.route("/teams/<int:team_id>/leaders", methods=["POST"])
@admin_required
def team_leader_add(team_id: int) -> Response | tuple[str, int]:
    form = LeaderForm()
    if not form.validate_on_submit():
        return _team_page(team_id, status=422, leader=form)
    person = find_by_email(db.session, email=form.email.data)
    if person is None:
        flash(
            f"No one with the email {form.email.data} yet; invite them as a leader instead.",
            "danger",
        )
        return _team_page(team_id, status=422, leader=form)
    try:
        added = assign_leader(db.session, person_id=person.id, team_id=team_id)
    except TreeError as exc:
        return _refused(team_id, exc, leader=form)
    if added:
        team = get_team(db.session, team_id=team_id)
        record(
            db.session,
            actor=_actor(),
            action="leader.assign",
            target=person.email,
            detail={"team": team.name},
        )
    db.session.commit()
    flash(f"{person.name} now leads this team." if added else "Already a leader here.", "success")
    return redirect(url_for("admin.team", team_id=team_id))


@blueprint.route("/teams/<int:team_id>/leaders/<int:person_id>/remove", methods=["POST"])
@admin_required
def team_leader_remove(team_id: int, person_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    removed = remove_leader(db.session, person_id=person_id, team_id=team_id)
    if not removed:
        abort(404, description="That person does not lead this team.")
    person = db.session.get(Person, person_id)
    team = get_team(db.session, team_id=team_id)
    record(
        db.session,
        actor=_actor(),
        action="leader.remove",
        target=person.email if person else str(person_id),
        detail={"team": team.name},
    )
    db.session.commit()
    flash("Leader removed.", "success")
    return redirect(url_for("admin.team", team_id=team_id))


@blueprint.route("/leaders/invite", methods=["GET", "POST"])
@admin_required
def leader_invite() -> Response | tuple[str, int]:
    form = InviteLeaderForm()
    form.team_id.choices = team_choices()
    if not form.is_submitted():
        return render_template("admin/invite_leader.html", form=form), 200
    if not form.validate():
        return render_template("admin/invite_leader.html", form=form), 422
    try:
        team = get_team(db.session, team_id=form.team_id.data)
        person = invite_leader(
            db.session,
            settings=current_app.config["PULSE"],
            email=form.email.data,
            name=form.name.data or "",
            team=team,
            invited_by=_actor(),
        )
    except (TemporaryMailError, PermanentMailError) as exc:
        db.session.rollback()
        flash(f"The invitation could not be sent, so nothing was changed: {exc}", "danger")
        return render_template("admin/invite_leader.html", form=form), 502
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return render_template("admin/invite_leader.html", form=form), 422
    record(
        db.session,
        actor=_actor(),
        action="leader.invite",
        target=person.email,
        detail={"team": team.name},
    )
    db.session.commit()
    flash(f"Invitation sent to {person.email}; they lead {team.name}.", "success")
    return redirect(url_for("admin.team", team_id=team.id))
