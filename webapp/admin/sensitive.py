"""The restricted admin view of sensitive comments and the word lists that flag them.

Only admins: the lists are edited here (each change in the audit log) and the flagged
comments of a closed cycle are listed as pulse.comments.sensitive gives them, masked,
shuffled and without their team.
"""

from __future__ import annotations

import random

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.comments.sensitive import (
    CATEGORIES,
    add_phrase,
    flagged_comments,
    load_defaults,
    remove_phrase,
    word_lists,
)
from pulse.organisation.service import threshold
from pulse.surveys.models import Cycle
from webapp.admin.forms import ActionForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db


@blueprint.route("/comments/sensitive")
@admin_required
def sensitive_comments() -> str:
    closed = list(
        db.session.scalars(
            select(Cycle).where(Cycle.status == "closed").order_by(Cycle.opens_at.desc()).limit(50)
        )
    )
    chosen = request.args.get("cycle", type=int) or (closed[0].id if closed else None)
    flagged = []
    if chosen is not None and chosen in {c.id for c in closed}:
        k = threshold(db.session, default=current_app.config["PULSE"].threshold)
        flagged = flagged_comments(
            db.session,
            actor=current_user.person(),
            cycle_id=chosen,
            threshold=k,
            rng=random.Random(),
        )
    return render_template(
        "admin/sensitive.html",
        lists=word_lists(db.session),
        categories=CATEGORIES,
        cycles=closed,
        chosen=chosen,
        flagged=flagged,
        form=ActionForm(formdata=None),
    )


@blueprint.route("/comments/sensitive/words", methods=["POST"])
@admin_required
def sensitive_words() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired; please try again.")
    actor = current_user.person()
    operation = request.form.get("operation", "")
    category = request.form.get("category", "")
    phrase = request.form.get("phrase", "")
    try:
        if operation == "defaults":
            added = load_defaults(db.session, actor=actor)
            message = f"{added} phrase(s) added from the starting lists."
        elif operation == "remove":
            done = remove_phrase(db.session, actor=actor, category=category, phrase=phrase)
            message = "Removed." if done else "That phrase was not on the list."
        else:
            done = add_phrase(db.session, actor=actor, category=category, phrase=phrase)
            message = "Added." if done else "That phrase is on the list already."
    except ValueError as exc:
        db.session.rollback()
        flash(f"Not changed: {exc}.", "warning")
        return redirect(url_for("admin.sensitive_comments"))
    record(
        db.session,
        actor=actor,
        action=f"sensitive_words.{operation or 'add'}",
        target=category or "all",
        detail={"phrase": phrase} if phrase else None,
    )
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("admin.sensitive_comments"))
