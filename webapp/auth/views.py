"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from pulse.accounts.sso import password_refused
from pulse.audit.service import record
from pulse.db import utcnow
from pulse.people.service import authenticate
from webapp.auth.forms import SignInForm
from webapp.auth.oidc import sso_enabled as sso_configured
from webapp.auth.throttle import ACCOUNT_LIMITS, account_key, failed_sign_in, remember_device
from webapp.auth.user import SignedInUser
from webapp.extensions import db, limiter

blueprint = Blueprint("auth", __name__)

SSO_REQUIRED = "Your organisation requires single sign-on: use your company account below."
GENERIC_FAILURE = "That email and password do not match an account. Please try again."


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@blueprint.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
@limiter.limit(ACCOUNT_LIMITS, key_func=account_key, methods=["POST"], deduct_when=failed_sign_in)
def sign_in() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        person = authenticate(db.session, email=form.email.data, password=form.password.data)
        if person is not None and sso_configured() and password_refused(db.session, person=person):
            # Only once the password was right: a wrong one learns nothing about the account.
            db.session.rollback()
            flash(SSO_REQUIRED, "warning")
            return render_template("auth/sign_in.html", form=form), 403  # type: ignore[return-value]
        if person is not None:
            person.last_sign_in_at = utcnow()
            if person.is_admin:
                record(db.session, actor=person, action="admin.sign_in", target=person.email)
            db.session.commit()
            login_user(SignedInUser.of(person), remember=bool(form.remember.data))
            response = make_response(
                redirect(_safe_next(request.args.get("next")) or url_for("home.index"))
            )
            remember_device(response, email=person.email)
            return response
        db.session.rollback()
        flash(GENERIC_FAILURE, "danger")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/sign_in.html", form=form), status  # type: ignore[return-value]


@blueprint.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))
