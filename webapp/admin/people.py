"""Admin people pages: search, edit, move between teams, deactivate, and the CSV import.

The import is two steps. Upload parses the file and previews exactly what would change
(the same import code run in a transaction that is then rolled back). The preview page carries
the file content in a hidden field, compressed and signed with itsdangerous (salted, valid one
hour), so confirming writes precisely what was previewed without keeping anything on the server
and without trusting the browser with anything it could alter unnoticed.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.people.directory import (
    get_person,
    membership_history,
    move_person,
    search_people,
    set_active,
    update_person,
)
from pulse.people.importer import ImportRejected, import_people, parse_people_csv
from pulse.people.models import Person
from pulse.people.service import AccountError
from pulse.teams.models import Team
from pulse.teams.tree import team_tree
from webapp.admin.forms import (
    MAX_IMPORT_BYTES,
    ActionForm,
    ImportConfirmForm,
    ImportUploadForm,
    MovePersonForm,
    PeopleSearchForm,
    PersonForm,
)
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db

# Requests carry at most the signed import payload; larger ones get the friendly 413 page.
MAX_REQUEST_BYTES = 2 * 1024 * 1024
IMPORT_LINK_SECONDS = 3600


@blueprint.record_once
def _limit_request_size(state: Any) -> None:
    config = state.app.config
    if config.get("MAX_CONTENT_LENGTH") is None:
        config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    # Flask caps plain form fields at 500 kB by default; the signed file travels as one.
    wanted = 2 * MAX_IMPORT_BYTES
    config["MAX_FORM_MEMORY_SIZE"] = max(config.get("MAX_FORM_MEMORY_SIZE") or 0, wanted)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pulse.people-import")


def _actor() -> Person:
    person: Person = current_user.person()
    return person


def team_choices() -> list[tuple[int, str]]:
    """Live teams in tree order, indented by depth, for select fields."""
    return [
        (node.team.id, "\u2003" * node.depth + node.team.name)
        for node in team_tree(db.session, include_archived=False)
    ]


@blueprint.route("/people")
@admin_required
def people() -> str:
    form = PeopleSearchForm(request.args)
    page = request.args.get("page", 1, type=int) or 1
    query = (form.q.data or "") if form.validate() else ""
    team_id = request.args.get("team", type=int)
    result = search_people(db.session, query=query, team_id=team_id, page=page, per_page=25)
    params = {key: value for key, value in (("q", query), ("team", team_id)) if value}
    return render_template(
        "admin/people.html", form=form, result=result, query=query, params=params
    )


def _person_page(person_id: int, *, status: int = 200, **forms: Any) -> tuple[str, int]:
    try:
        person = get_person(db.session, person_id=person_id)
    except AccountError:
        abort(404, description="There is no such person.")
    edit = forms.get("edit") or PersonForm(obj=person, formdata=None)
    move = forms.get("move") or MovePersonForm(formdata=None)
    move.team_id.choices = team_choices()
    return render_template(
        "admin/person.html",
        person=person,
        edit=edit,
        move=move,
        action=ActionForm(formdata=None),
        history=membership_history(db.session, person_id=person.id),
    ), status


@blueprint.route("/people/<int:person_id>", methods=["GET", "POST"])
@admin_required
def person(person_id: int) -> Response | tuple[str, int]:
    form = PersonForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _person_page(person_id, status=422, edit=form)
        try:
            changes = update_person(
                db.session, person_id=person_id, name=form.name.data, email=form.email.data
            )
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return _person_page(person_id, status=422, edit=form)
        if changes:
            target = get_person(db.session, person_id=person_id).email
            record(
                db.session, actor=_actor(), action="person.update", target=target, detail=changes
            )
        db.session.commit()
        flash("Saved." if changes else "Nothing changed.", "success")
        return redirect(url_for("admin.person", person_id=person_id))
    return _person_page(person_id)


@blueprint.route("/people/<int:person_id>/move", methods=["POST"])
@admin_required
def move(person_id: int) -> Response | tuple[str, int]:
    form = MovePersonForm()
    form.team_id.choices = team_choices()
    if not form.validate_on_submit():
        flash("Choose a team to move this person to.", "danger")
        return _person_page(person_id, status=422, move=form)
    try:
        moved = move_person(
            db.session, person_id=person_id, team_id=form.team_id.data, on=utcnow().date()
        )
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _person_page(person_id, status=422, move=form)
    if moved:
        target = get_person(db.session, person_id=person_id).email
        team = db.session.get(Team, form.team_id.data)
        record(
            db.session,
            actor=_actor(),
            action="person.move",
            target=target,
            detail={"team": team.name if team else form.team_id.data},
        )
    db.session.commit()
    flash("Moved; the old membership ends today." if moved else "Already in that team.", "success")
    return redirect(url_for("admin.person", person_id=person_id))


@blueprint.route("/people/<int:person_id>/deactivate", methods=["POST"])
@admin_required
def deactivate(person_id: int) -> Response | tuple[str, int]:
    return _set_active(person_id, active=False)


@blueprint.route("/people/<int:person_id>/reactivate", methods=["POST"])
@admin_required
def reactivate(person_id: int) -> Response | tuple[str, int]:
    return _set_active(person_id, active=True)


def _set_active(person_id: int, *, active: bool) -> Response | tuple[str, int]:
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    if not active and person_id == current_user.person_id:
        flash("You cannot deactivate yourself.", "danger")
        return _person_page(person_id, status=422)
    try:
        changed = set_active(db.session, person_id=person_id, active=active)
    except AccountError:
        abort(404, description="There is no such person.")
    if changed:
        person = get_person(db.session, person_id=person_id)
        action = "person.reactivate" if active else "person.deactivate"
        record(db.session, actor=_actor(), action=action, target=person.email)
    db.session.commit()
    flash("Reactivated." if active else "Deactivated: no more invitations or sign-in.", "success")
    return redirect(url_for("admin.person", person_id=person_id))


@blueprint.route("/people/import", methods=["GET", "POST"])
@admin_required
def people_import() -> tuple[str, int]:
    form = ImportUploadForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/import.html", form=form), status
    content = form.file.data.read(MAX_IMPORT_BYTES + 1)
    deactivate_missing = bool(form.deactivate_missing.data)
    parsed = parse_people_csv(content)
    filename = form.file.data.filename or "upload.csv"
    if not parsed.ok:
        return render_template(
            "admin/import_preview.html", errors=parsed.errors, report=None, filename=filename
        ), 422
    try:
        report = import_people(
            db.session, content=content, on=utcnow().date(), deactivate_missing=deactivate_missing
        )
    except ImportRejected as exc:
        db.session.rollback()
        return render_template(
            "admin/import_preview.html", errors=exc.errors, report=None, filename=filename
        ), 422
    finally:
        db.session.rollback()  # the preview never writes
    text = content.decode("utf-8-sig")
    payload = _serializer().dumps(
        {"csv": text, "deactivate_missing": deactivate_missing, "filename": filename}
    )
    confirm = ImportConfirmForm(formdata=None, payload=payload)
    return render_template(
        "admin/import_preview.html",
        errors=[],
        report=report,
        filename=filename,
        confirm=confirm,
        deactivate_missing=deactivate_missing,
    ), 200


@blueprint.route("/people/import/confirm", methods=["POST"])
@admin_required
def people_import_confirm() -> Response | tuple[str, int]:
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The confirmation was incomplete; please upload the file again.")
    try:
        data = _serializer().loads(form.payload.data, max_age=IMPORT_LINK_SECONDS)
    except BadSignature:
        abort(400, description="This preview has expired or was altered; upload the file again.")
    filename = str(data.get("filename", "upload.csv"))
    try:
        report = import_people(
            db.session,
            content=str(data["csv"]),
            on=utcnow().date(),
            deactivate_missing=bool(data.get("deactivate_missing")),
        )
    except ImportRejected as exc:
        db.session.rollback()
        return render_template(
            "admin/import_preview.html", errors=exc.errors, report=None, filename=filename
        ), 422
    detail: dict[str, Any] = {"file": filename, **report.as_dict()}
    detail["deactivate_missing"] = bool(data.get("deactivate_missing"))
    record(db.session, actor=_actor(), action="people.import", target=filename, detail=detail)
    db.session.commit()
    flash(
        f"Imported {report.rows} rows: {report.people_created} people created, "
        f"{report.people_updated} updated, {report.people_unchanged} unchanged, "
        f"{report.people_deactivated} deactivated; {report.teams_created} teams created.",
        "success",
    )
    return redirect(url_for("admin.people"))
