"""Account pages reached from emailed links: forgotten password, reset, leader invitation."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from pulse.accounts.service import accept_invitation, request_password_reset, reset_password
from pulse.accounts.tokens import TokenInvalid, find_token
from pulse.audit.service import record
from pulse.people.models import Person
from pulse.people.service import MIN_PASSWORD_LENGTH, AccountError
from webapp.extensions import db, limiter

blueprint = Blueprint("accounts", __name__)

SENT_MESSAGE = (
    "If an account exists for that address, we sent it a link to choose a new password. "
    "The link works once, within the hour."
)
INVALID_LINK = "This link is not valid any more: it was used, replaced or has expired."


class ForgotPasswordForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class SetPasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=256,
                message=f"Use at least {MIN_PASSWORD_LENGTH} characters.",
            ),
        ],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )


@blueprint.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
def forgot_password() -> Response | tuple[str, int]:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        # Whatever happens, the answer is the same: nobody learns whether an account exists.
        request_password_reset(
            db.session, settings=current_app.config["PULSE"], email=form.email.data
        )
        db.session.commit()
        flash(SENT_MESSAGE, "info")
        return redirect(url_for("auth.sign_in"))
    status = 400 if form.is_submitted() else 200
    return render_template("accounts/forgot_password.html", form=form), status


def _set_password_page(
    token: str, purpose: str, title: str, intro: str
) -> Response | tuple[str, int]:
    try:
        find_token(db.session, raw=token, purpose=purpose)
    except TokenInvalid:
        return render_template(
            "accounts/link_invalid.html", message=INVALID_LINK, purpose=purpose
        ), 410
    form = SetPasswordForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template(
            "accounts/set_password.html", form=form, title=title, intro=intro
        ), status
    try:
        if purpose == "reset":
            person: Person = reset_password(
                db.session, raw_token=token, password=form.password.data
            )
        else:
            person = accept_invitation(db.session, raw_token=token, password=form.password.data)
    except TokenInvalid:
        db.session.rollback()
        return render_template(
            "accounts/link_invalid.html", message=INVALID_LINK, purpose=purpose
        ), 410
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return render_template(
            "accounts/set_password.html", form=form, title=title, intro=intro
        ), 422
    action = "account.password_reset" if purpose == "reset" else "account.invitation_accepted"
    record(db.session, actor=person, action=action, target=person.email)
    db.session.commit()
    if current_user.is_authenticated:
        logout_user()
    flash("Your password is set. Please sign in.", "success")
    return redirect(url_for("auth.sign_in"))


@blueprint.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def reset(token: str) -> Response | tuple[str, int]:
    return _set_password_page(
        token, "reset", "Choose a new password", "Pick a password you do not use elsewhere."
    )


@blueprint.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def invite(token: str) -> Response | tuple[str, int]:
    return _set_password_page(
        token,
        "invite",
        "Welcome to Team Pulse",
        "Choose a password to see your team's pulse. Results only ever show groups large "
        "enough to keep everyone's answers anonymous.",
    )
