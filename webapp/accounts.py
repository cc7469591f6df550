"""Account pages reached from emailed links: forgotten password, reset, leader invitation;
the results-digest setting and its one-click unsubscribe link."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from pulse.accounts.service import accept_invitation, request_password_reset, reset_password
from pulse.accounts.tokens import TokenInvalid, find_token
from pulse.audit.service import record
from pulse.delivery.digest_prefs import person_for_token, set_wants_digest, wants_digest
from pulse.people.models import Person
from pulse.people.service import MIN_PASSWORD_LENGTH, AccountError
from webapp.extensions import csrf, db, limiter

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


class DigestForm(FlaskForm):  # type: ignore[misc]
    wanted = BooleanField("Email me when a survey's results are ready")


@blueprint.route("/account/email", methods=["GET", "POST"])
@login_required
def digest_setting() -> Response | tuple[str, int]:
    """The results-digest setting of the signed-in person."""
    person_id = current_user.person_id
    form = DigestForm()
    if form.validate_on_submit():
        wanted = bool(form.wanted.data)
        if set_wants_digest(db.session, person_id=person_id, wanted=wanted):
            action = "account.digest_on" if wanted else "account.digest_off"
            record(db.session, actor=db.session.get(Person, person_id), action=action)
        db.session.commit()
        flash(
            "You will get an email when results are ready."
            if wanted
            else "You will not get results emails any more.",
            "success",
        )
        return redirect(url_for("accounts.digest_setting"))
    if form.is_submitted():
        return render_template("accounts/digest_setting.html", form=form), 400
    form.wanted.data = wants_digest(db.session, person_id=person_id)
    return render_template("accounts/digest_setting.html", form=form), 200


def _private(response: Response) -> Response:
    # The address holds the link's token: keep it out of referrers and caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/digest/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the credential (RFC 8058 one-click POSTs carry no cookie)
@limiter.limit("30 per minute", methods=["POST"])
def digest_unsubscribe(token: str) -> Response:
    """One-click unsubscribe from the results digest, without sign-in.

    A GET only asks (mail scanners open links); the POST, from the page's button or from the
    mail client's List-Unsubscribe-Post, turns the digest off.
    """
    person_id = person_for_token(current_app.config["PULSE"].secret_key, token)
    person = db.session.get(Person, person_id) if person_id is not None else None
    if person is None:
        page = render_template("accounts/digest_unsubscribe.html", state="invalid")
        return _private(make_response(page, 404))
    if request.method == "GET":
        page = render_template("accounts/digest_unsubscribe.html", state="confirm")
        return _private(make_response(page, 200))
    if set_wants_digest(db.session, person_id=person.id, wanted=False):
        record(db.session, actor=person, action="account.digest_off", target="unsubscribe link")
    db.session.commit()
    page = render_template("accounts/digest_unsubscribe.html", state="done")
    return _private(make_response(page, 200))
