"""`/s/<token>`: the survey form (GET, never records) and its submission (POST)."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from pulse.answers.service import (
    COMMENT_MAX,
    VERDICTS,
    ClosedLink,
    InvalidAnswers,
    LinkProblem,
    Survey,
    UnknownLink,
    open_survey,
)
from pulse.answers.submit import submit_response
from pulse.comments.replies import (
    ReplyView,
    previous_cycle_id,
    replied_count,
    replies_for_link,
    shared_replies,
)
from pulse.db import utcnow
from pulse.instrument import THEME_LABELS
from pulse.organisation.service import configured_defaults
from webapp.extensions import csrf, db, limiter
from webapp.survey.queueing import queue_aggregation

blueprint = Blueprint("survey", __name__)
# No CSRF token and therefore no session cookie on the answer page. A CSRF token is a secret
# that a forged cross-site request cannot know; here the link token in the URL already is
# that secret (128 random bits, never stored in the clear), and the form carries no ambient
# credential such as a sign-in cookie that a forged request could borrow. Without the token
# a respondent's browser would have to keep a signed session cookie from the survey site,
# which the page promises not to set.
csrf.exempt(blueprint)


def is_answer_page() -> bool:
    """Whether this request is for the answer page (its routes matched)."""
    return request.blueprint == blueprint.name


@limiter.request_filter
def _answer_page_is_not_rate_limited() -> bool:
    """The answer page has no rate limit: a whole company may answer from one address in
    the same hour, and its link tokens cannot be guessed. The app also skips the limiter's
    request hooks for these requests (webapp/hot_path.py), by the same test."""
    return is_answer_page()


@blueprint.after_app_request
def _answer_page_is_neither_referred_nor_stored(response: WerkzeugResponse) -> WerkzeugResponse:
    """Every response on the answer route (the page, a submit's redirect, an error page,
    a 405) tells the browser not to send its URL, which holds the link token, as a Referer
    to whatever it loads or links to, and not to keep a copy of the page in any cache.

    Registered on the app, not the blueprint: a request the route refuses before reaching
    the view (a wrong method) has no blueprint but still names the token in its URL.
    """
    if request.blueprint == blueprint.name or request.path.startswith("/s/"):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


Page = str | tuple[str, int] | WerkzeugResponse


class AnswerForm(FlaskForm):  # type: ignore[misc]
    """The fixed part of the form (the comment); item radios are read by the view."""

    class Meta:
        csrf = False  # the link token protects the form: see the note on the blueprint

    comment = TextAreaField(validators=[Optional(), Length(max=COMMENT_MAX)])


def _problem(problem: LinkProblem, token: str | None = None) -> tuple[str, int]:
    """The problem's page; a link whose pulse has closed still shows the replies to what was
    written through it (replies come only after a cycle closes: comments are sealed until)."""
    replies: list[ReplyView] = []
    if token is not None and isinstance(problem, ClosedLink | UnknownLink):
        replies = replies_for_link(
            db.session, secret=current_app.config["PULSE"].secret_key, token=token
        )
    page = render_template(
        "survey/problem.html",
        title=problem.title,
        message=str(problem),
        code=problem.status,
        replies=replies,
    )
    return page, problem.status


# A link pasted into the "replies to what you wrote last time" box: its token, wherever it is.
_PASTED_TOKEN = re.compile(r"(?:^|/)([A-Za-z0-9_-]{43})(?:[/?#]|$)")


def _pasted_token(text: str) -> str | None:
    found = _PASTED_TOKEN.search(text.strip())
    return found.group(1) if found else None


def _last_time(survey: Survey) -> dict[str, object] | None:
    """What the team reads about the previous pulse: the public replies and how many
    comments got an answer, the same for every member whoever wrote what."""
    previous = previous_cycle_id(db.session, cycle_id=survey.cycle_id)
    if previous is None:
        return None
    return {
        "shared": shared_replies(db.session, team_id=survey.team_id, cycle_id=previous),
        "replied": replied_count(db.session, team_id=survey.team_id, cycle_id=previous),
    }


def _preselected(survey: Survey) -> dict[int, str]:
    """The answer chosen by an email button (?a=item:value); it only ticks the radio."""
    chosen = dict(survey.previous)
    raw = request.args.get("a", "")
    item_text, _, value = raw.partition(":")
    if item_text.isdigit():
        item_id = int(item_text)
        for item in survey.items:
            if item.item_id == item_id and value in {str(c.value) for c in item.choices}:
                chosen[item_id] = value
    return chosen


def _numbered(form: MultiDict[str, str], prefix: str) -> dict[int, str | None]:
    values: dict[int, str | None] = {}
    for key in form:
        if key.startswith(prefix):
            suffix = key[len(prefix) :]
            if not suffix.isdigit():
                raise InvalidAnswers("The form was changed in a way we cannot read.")
            values[int(suffix)] = form.get(key)
    return values


def _render(
    survey: Survey,
    form: AnswerForm,
    token: str,
    *,
    selected: dict[int, str],
    feedback: dict[int, str],
    error: str | None = None,
    saved: bool = False,
    earlier_replies: list[ReplyView] | None = None,
) -> str:
    secret = current_app.config["PULSE"].secret_key
    return render_template(
        "survey/answer.html",
        replies=replies_for_link(db.session, secret=secret, token=token),
        earlier_replies=earlier_replies or [],
        last_time=_last_time(survey),
        survey=survey,
        form=form,
        token=token,
        selected=selected,
        feedback=feedback,
        verdicts=VERDICTS,
        theme_labels=THEME_LABELS,
        error=error,
        saved=saved,
    )


def _open(token: str, secret: str) -> Survey:
    """The survey behind a link now, with the configured thresholds for any kind never set."""
    return open_survey(
        db.session,
        token=token,
        secret=secret,
        now=utcnow(),
        defaults=configured_defaults(current_app.config["PULSE"]),
    )


@blueprint.route("/s/<token>", methods=["GET", "POST"])
def answer(token: str) -> Page:
    secret = current_app.config["PULSE"].secret_key
    if request.method == "GET":
        try:
            survey = _open(token, secret)
        except LinkProblem as problem:
            return _problem(problem, token)
        form = AnswerForm()
        form.comment.data = survey.previous_comment
        return _render(
            survey,
            form,
            token,
            selected=_preselected(survey),
            feedback=survey.previous_feedback,
            saved=request.args.get("saved") == "1",
        )
    return _submit(token, secret)


@blueprint.route("/s/<token>/earlier", methods=["POST"])
def earlier(token: str) -> Page:
    """The answer page with the replies to what was written through an earlier pulse's link,
    pasted by its holder: the only key from a person to their old comment is that link."""
    secret = current_app.config["PULSE"].secret_key
    try:
        survey = _open(token, secret)
    except LinkProblem as problem:
        return _problem(problem)
    previous = _pasted_token(request.form.get("previous", ""))
    found = replies_for_link(db.session, secret=secret, token=previous) if previous else []
    form = AnswerForm(formdata=None)
    form.comment.data = survey.previous_comment
    return _render(
        survey,
        form,
        token,
        selected=_preselected(survey),
        feedback=survey.previous_feedback,
        earlier_replies=found,
        error=None if found else "No replies were found for that link.",
    )


def _submit(token: str, secret: str) -> Page:
    # submit_response checks the link and every value (the comment's length included), so
    # the success path reads the form data directly: the Flask-WTF form is only built to
    # show the page again with an error. It commits, and rolls back on any error.
    try:
        submit_response(
            db.session,
            token=token,
            secret=secret,
            answers=_numbered(request.form, "item-"),
            comment=request.form.get("comment", ""),
            feedback=_numbered(request.form, "action-"),
            now=utcnow(),
        )
    except InvalidAnswers as exc:
        return _again(token, secret, error=str(exc), status=422)
    except LinkProblem as problem:
        return _problem(problem)
    queue_aggregation()
    return redirect(url_for(".answer", token=token, saved=1), code=303)


def _again(token: str, secret: str, *, error: str, status: int) -> Page:
    """The form again with the visitor's choices and an error; a dead link gets its own page."""
    try:
        survey = _open(token, secret)
    except LinkProblem as problem:
        return _problem(problem)
    form = AnswerForm()  # filled from the posted data, so the comment is kept
    selected = {k: v for k, v in _numbered_safe("item-").items() if v}
    feedback = {k: v for k, v in _numbered_safe("action-").items() if v}
    page = _render(survey, form, token, selected=selected, feedback=feedback, error=error)
    return page, status


def _numbered_safe(prefix: str) -> dict[int, str | None]:
    try:
        return _numbered(request.form, prefix)
    except InvalidAnswers:
        return {}
