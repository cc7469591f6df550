"""Admin forms (Flask-WTF, CSRF-protected); services do the domain validation."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

# The confirm step posts the file back signed and compressed, so it must fit in one form:
# a 1 MB file (about 10,000 people) stays well inside the 2 MB request limit.
MAX_IMPORT_BYTES = 1024 * 1024


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A bare button: only the CSRF token."""


class ImportUploadForm(FlaskForm):  # type: ignore[misc]
    file = FileField(
        "CSV file",
        validators=[
            FileRequired("Choose a CSV file to import."),
            FileSize(MAX_IMPORT_BYTES, message="The file is larger than 1 MB."),
        ],
    )
    deactivate_missing = BooleanField("Deactivate people who are not in this file")


class ImportConfirmForm(FlaskForm):  # type: ignore[misc]
    payload = HiddenField(validators=[DataRequired()])


class PeopleSearchForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search by name or email", validators=[Optional(), Length(max=200)])


class PersonForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])


class MovePersonForm(FlaskForm):  # type: ignore[misc]
    team_id = SelectField("Move to team", coerce=int, validators=[DataRequired()])


class TeamCreateForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    parent_id = SelectField("Sits under", coerce=int, validators=[DataRequired()])
    kind = SelectField("Kind", choices=[("team", "Team"), ("department", "Department")])


class RenameTeamForm(FlaskForm):  # type: ignore[misc]
    name = StringField("New name", validators=[DataRequired(), Length(max=120)])


class MoveTeamForm(FlaskForm):  # type: ignore[misc]
    parent_id = SelectField("Move under", coerce=int, validators=[DataRequired()])


class LeaderForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email of the new leader", validators=[DataRequired(), Email()])


class InviteLeaderForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    team_id = SelectField("Leads", coerce=int, validators=[DataRequired()])


# One message for a threshold that is missing, not a number, or out of range: the page shows
# it once beside the field, whichever rule caught the value.
THRESHOLD_MESSAGE = "Enter a whole number from 3 to 10."


def _threshold_rules() -> list[object]:
    return [
        DataRequired(message=THRESHOLD_MESSAGE),
        NumberRange(3, 10, message=THRESHOLD_MESSAGE),
    ]


class SettingsForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Organisation name", validators=[DataRequired(), Length(max=200)])
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])
    threshold = IntegerField(
        "Scores: fewest people who answered",
        validators=_threshold_rules(),
        invalid_value_message=THRESHOLD_MESSAGE,
    )
    threshold_participation = IntegerField(
        "Participation: fewest people invited",
        validators=_threshold_rules(),
        invalid_value_message=THRESHOLD_MESSAGE,
    )
    # That comments need at least the scores threshold is checked by the service.
    threshold_comments = IntegerField(
        "Comments: fewest people who answered",
        validators=_threshold_rules(),
        invalid_value_message=THRESHOLD_MESSAGE,
    )


class AuditFilterForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # a GET filter changes nothing

    actor = StringField("Who (email contains)", validators=[Optional(), Length(max=254)])
    action = SelectField("Action", validators=[Optional()])
    since = DateField("From", validators=[Optional()])
    until = DateField("Until", validators=[Optional()])
