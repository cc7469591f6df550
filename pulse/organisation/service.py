"""Reading and changing organisation settings with their defaults and validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.organisation.models import OrgSetting

MIN_THRESHOLD = 3
MAX_THRESHOLD = 10
DEFAULT_PARTICIPATION = 5
DEFAULT_COMMENTS = 7
# Where each kind of threshold is stored. "threshold" predates the other kinds and stays the
# scores threshold, so settings saved before thresholds had kinds keep their meaning.
THRESHOLD_KEYS = {
    "scores": "threshold",
    "participation": "threshold_participation",
    "comments": "threshold_comments",
}


@dataclass(frozen=True)
class Thresholds:
    """The confidentiality thresholds by kind.

    Each kind protects against a different guess: `scores` counts the people who answered
    before any score of a group is shown; `participation` counts the people invited before a
    response rate is shown; `comments` counts the people who answered before their comments
    are shown, and is never below `scores` because a comment gives its author away more easily
    than a number does.
    """

    scores: int
    participation: int
    comments: int


DEFAULT_THRESHOLDS = Thresholds(
    scores=5, participation=DEFAULT_PARTICIPATION, comments=DEFAULT_COMMENTS
)


@dataclass(frozen=True)
class OrgSettings:
    name: str
    timezone: str
    threshold: int
    threshold_participation: int
    threshold_comments: int

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.threshold, self.threshold_participation, self.threshold_comments)


def configured_defaults(config: Settings) -> Thresholds:
    """The thresholds that apply where the organisation never set one (PULSE_THRESHOLD*)."""
    return Thresholds(
        scores=config.threshold,
        participation=config.threshold_participation,
        comments=config.threshold_comments,
    )


# Every dashboard request reads the thresholds: the query is built once (building it cost
# several times what running it does).
_STORED_THRESHOLDS = select(OrgSetting.key, OrgSetting.value).where(
    OrgSetting.key.in_(THRESHOLD_KEYS.values())
)


def _stored_thresholds(session: Session) -> dict[str, str]:
    """The threshold settings that were ever stored, in one small query."""
    return {key: value for key, value in session.execute(_STORED_THRESHOLDS)}


def _resolve(
    stored: Mapping[str, str], *, default: int, default_participation: int, default_comments: int
) -> Thresholds:
    """The thresholds from stored values and defaults, without making them consistent."""
    scores = int(stored.get(THRESHOLD_KEYS["scores"], default))
    participation = int(stored.get(THRESHOLD_KEYS["participation"], default_participation))
    comments_stored = stored.get(THRESHOLD_KEYS["comments"])
    # An unset comments threshold follows a raised scores threshold, so that raising the one
    # never leaves the other below it.
    comments = max(default_comments, scores) if comments_stored is None else int(comments_stored)
    return Thresholds(scores, participation, comments)


def _in_force(resolved: Thresholds) -> Thresholds:
    """Comments never below scores, even if a changed PULSE_THRESHOLD overtook a stored value."""
    return Thresholds(
        resolved.scores, resolved.participation, max(resolved.comments, resolved.scores)
    )


def get_settings(
    session: Session,
    *,
    default_threshold: int = 5,
    default_participation: int = DEFAULT_PARTICIPATION,
    default_comments: int = DEFAULT_COMMENTS,
) -> OrgSettings:
    """The organisation's settings, falling back to defaults for anything never set."""
    rows = {row.key: row.value for row in session.scalars(select(OrgSetting))}
    k = _in_force(
        _resolve(
            rows,
            default=default_threshold,
            default_participation=default_participation,
            default_comments=default_comments,
        )
    )
    return OrgSettings(
        name=rows.get("name", "Our organisation"),
        timezone=rows.get("timezone", "UTC"),
        threshold=k.scores,
        threshold_participation=k.participation,
        threshold_comments=k.comments,
    )


def threshold(session: Session, *, default: int = 5) -> int:
    """The scores threshold k in force (the threshold reports used before kinds existed)."""
    # Read on every report: the one value, not every setting.
    stored = session.scalar(select(OrgSetting.value).where(OrgSetting.key == "threshold"))
    return default if stored is None else int(stored)


def thresholds(
    session: Session,
    *,
    default: int = 5,
    default_participation: int = DEFAULT_PARTICIPATION,
    default_comments: int = DEFAULT_COMMENTS,
) -> Thresholds:
    """The thresholds of every kind in force now, in one small query.

    `default` is the configured scores threshold (PULSE_THRESHOLD); an unset comments
    threshold is the larger of its default and the scores threshold.
    """
    stored = _stored_thresholds(session)
    return _in_force(
        _resolve(
            stored,
            default=default,
            default_participation=default_participation,
            default_comments=default_comments,
        )
    )


def effective_thresholds(locked: Thresholds | None, current: Thresholds) -> Thresholds:
    """The thresholds that apply to a cycle: per kind, the larger of locked and current.

    A cycle locks the thresholds in force when it opens, because its people were told them
    before they answered. Raising a setting protects people more, so it applies at once;
    lowering one would show more than they were promised, so it applies only to cycles opened
    after it. A cycle with nothing locked (opened before locking existed) follows the settings.
    """
    if locked is None:
        return current
    return Thresholds(
        scores=max(locked.scores, current.scores),
        participation=max(locked.participation, current.participation),
        comments=max(locked.comments, current.comments),
    )


def _check_range(kind: str, value: int) -> None:
    if not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
        raise ValueError(
            f"the threshold for {kind} must be a whole number between "
            f"{MIN_THRESHOLD} and {MAX_THRESHOLD}, not {value}"
        )


def _threshold_changes(
    session: Session, given: dict[str, int | None], *, default_threshold: int
) -> dict[str, str]:
    """The stored values for the given thresholds; ValueError if any rule is broken.

    The comments rule is checked on the values as they will be after the change, so that
    lowering scores and comments together, or raising both, is accepted in one save.
    """
    chosen = {kind: value for kind, value in given.items() if value is not None}
    if not chosen:
        return {}
    for kind, value in chosen.items():
        _check_range(kind, value)
    if "scores" in chosen or "comments" in chosen:
        stored = _stored_thresholds(session)
        stored.update({THRESHOLD_KEYS[kind]: str(value) for kind, value in chosen.items()})
        after = _resolve(
            stored,
            default=default_threshold,
            default_participation=DEFAULT_PARTICIPATION,
            default_comments=DEFAULT_COMMENTS,
        )
        if after.comments < after.scores:
            raise ValueError(
                f"the threshold for comments ({after.comments}) must be at least the threshold "
                f"for scores ({after.scores}): a comment gives away who wrote it more easily "
                "than a score does"
            )
    return {THRESHOLD_KEYS[kind]: str(value) for kind, value in chosen.items()}


def update_settings(
    session: Session,
    *,
    name: str | None = None,
    timezone: str | None = None,
    threshold: int | None = None,
    threshold_participation: int | None = None,
    threshold_comments: int | None = None,
    default_threshold: int = 5,
) -> None:
    """Validate and store changed settings; raise ValueError with a readable reason.

    Everything is checked before anything is written, so a refusal stores nothing.
    `default_threshold` is the configured scores threshold, needed to check the comments rule
    when scores was never set.
    """
    changes: dict[str, str] = {}
    if name is not None:
        if not name.strip():
            raise ValueError("the organisation needs a name")
        changes["name"] = name.strip()[:200]
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        changes["timezone"] = timezone
    changes.update(
        _threshold_changes(
            session,
            {
                "scores": threshold,
                "participation": threshold_participation,
                "comments": threshold_comments,
            },
            default_threshold=default_threshold,
        )
    )
    for key, value in changes.items():
        row = session.get(OrgSetting, key)
        if row is None:
            session.add(OrgSetting(key=key, value=value))
        else:
            row.value = value
