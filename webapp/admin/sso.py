"""The single sign-on setting: require SSO of admins and leaders once a provider is set up."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from pulse.accounts.sso import require_sso, sso_required
from webapp.admin.forms import ActionForm
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.auth.oidc import sso_enabled
from webapp.extensions import db


@blueprint.route("/sso", methods=["GET", "POST"])
@admin_required
def sso() -> str | Response:
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        required = request.form.get("required") == "1"
        if required and not sso_enabled():
            # Requiring SSO with no provider would lock every admin out.
            flash("Configure PULSE_OIDC_* first: no provider is set up.", "danger")
            return redirect(url_for("admin.sso"))
        require_sso(db.session, actor=current_user.person(), required=required)
        db.session.commit()
        flash("Saved.", "success")
        return redirect(url_for("admin.sso"))
    return render_template(
        "admin/sso.html",
        form=form,
        configured=sso_enabled(),
        required=sso_required(db.session),
    )
