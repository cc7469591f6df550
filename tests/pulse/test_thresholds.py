"""Thresholds by kind: bounds, comments at least scores, locked into a cycle when it opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.organisation.models import OrgSetting
from pulse.organisation.service import (
    Thresholds,
    effective_thresholds,
    get_settings,
    threshold,
    thresholds,
    update_settings,
)
from pulse.surveys.cycles import create_cycle, cycle_thresholds
from pulse.surveys.models import Cycle
from pulse.surveys.scheduler import tick
from tests.support.delivery_org import make_org, make_schedule

START = datetime(2026, 9, 7, 8, tzinfo=UTC)
MONDAY_0900_LONDON_WINTER = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KINDS = ("threshold", "threshold_participation", "threshold_comments")
# Both databases: the settings are read with an IN query and written row by row.
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def stored(session: Session) -> dict[str, str]:
    session.expire_all()
    return {row.key: row.value for row in session.scalars(select(OrgSetting))}


def open_cycle(session: Session, sequence: int = 0, **kwargs: object) -> Cycle:
    opens = START + timedelta(weeks=2 * sequence)
    return create_cycle(
        session,
        schedule_id=None,
        period_key=f"c{sequence}",
        sequence=sequence,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
        **kwargs,  # type: ignore[arg-type]
    )


def test_defaults_when_nothing_is_set(session: Session) -> None:
    assert thresholds(session) == Thresholds(scores=5, participation=5, comments=7)
    assert threshold(session) == 5
    settings = get_settings(session)
    assert settings.thresholds == Thresholds(5, 5, 7)


def test_configured_defaults_apply_and_comments_follow_a_higher_scores_default(
    session: Session,
) -> None:
    assert thresholds(session, default=8) == Thresholds(scores=8, participation=5, comments=8)
    assert thresholds(
        session, default=4, default_participation=6, default_comments=9
    ) == Thresholds(4, 6, 9)
    assert get_settings(session, default_threshold=9).threshold_comments == 9


def test_unset_comments_follow_a_raised_scores_threshold(session: Session) -> None:
    update_settings(session, threshold=9)
    session.commit()
    assert thresholds(session) == Thresholds(scores=9, participation=5, comments=9)
    assert threshold(session) == 9


@BOTH
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [3, 10])
def test_each_kind_accepts_3_and_10(session: Session, kind: str, value: int) -> None:
    # Scores 3 and comments 10 keep "comments at least scores" out of the way.
    values = {"threshold": 3, "threshold_comments": 10, kind: value}
    update_settings(session, **values)  # type: ignore[arg-type]
    session.commit()
    assert stored(session)[kind] == str(value)
    assert getattr(get_settings(session), kind) == value


@BOTH
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [2, 11])
def test_each_kind_refuses_2_and_11_and_stores_nothing(
    session: Session, kind: str, value: int
) -> None:
    values = {"name": "Renamed", "threshold": 3, "threshold_comments": 10, kind: value}
    label = {"threshold": "scores", "threshold_participation": "participation"}.get(
        kind, "comments"
    )
    with pytest.raises(ValueError, match=f"threshold for {label} must be .* between 3 and 10"):
        update_settings(session, **values)  # type: ignore[arg-type]
    session.commit()
    assert stored(session) == {}


@BOTH
def test_comments_below_scores_are_refused_and_nothing_is_half_written(
    session: Session,
) -> None:
    with pytest.raises(ValueError, match=r"comments \(5\) must be at least .* scores \(6\)"):
        update_settings(
            session, name="Renamed", threshold=6, threshold_participation=8, threshold_comments=5
        )
    session.commit()
    assert stored(session) == {}
    assert get_settings(session).name == "Our organisation"


def test_the_comments_rule_uses_the_values_after_the_change(session: Session) -> None:
    update_settings(session, threshold=5, threshold_comments=7)
    session.commit()
    # Raising scores above the stored comments alone is refused...
    with pytest.raises(ValueError, match=r"comments \(7\) must be at least .* scores \(8\)"):
        update_settings(session, threshold=8)
    # ...lowering comments below the stored scores alone too...
    with pytest.raises(ValueError, match=r"comments \(4\) must be at least .* scores \(5\)"):
        update_settings(session, threshold_comments=4)
    session.commit()
    assert thresholds(session) == Thresholds(5, 5, 7)
    # ...but moving both together is one valid change, and equal is allowed.
    update_settings(session, threshold=8, threshold_comments=8)
    session.commit()
    assert thresholds(session) == Thresholds(8, 5, 8)
    update_settings(session, threshold=3, threshold_comments=3)
    session.commit()
    assert thresholds(session) == Thresholds(3, 5, 3)


def test_the_comments_rule_checks_against_the_configured_scores_default(
    session: Session,
) -> None:
    with pytest.raises(ValueError, match=r"comments \(6\) must be at least .* scores \(8\)"):
        update_settings(session, threshold_comments=6, default_threshold=8)
    update_settings(session, threshold_comments=6, default_threshold=5)
    session.commit()
    assert stored(session) == {"threshold_comments": "6"}


def test_effective_thresholds_take_the_larger_of_locked_and_current_per_kind() -> None:
    current = Thresholds(scores=5, participation=5, comments=7)
    assert effective_thresholds(None, current) == current
    assert effective_thresholds(Thresholds(6, 4, 7), current) == Thresholds(6, 5, 7)
    assert effective_thresholds(Thresholds(3, 3, 3), current) == current
    assert effective_thresholds(Thresholds(9, 9, 9), current) == Thresholds(9, 9, 9)


@BOTH
def test_create_cycle_locks_the_thresholds_in_force(session: Session) -> None:
    update_settings(session, threshold=6, threshold_participation=4, threshold_comments=8)
    cycle = open_cycle(session)
    session.commit()
    session.expire_all()
    assert (cycle.k_scores, cycle.k_participation, cycle.k_comments) == (6, 4, 8)
    given = open_cycle(session, 1, thresholds=Thresholds(7, 7, 9))
    session.commit()
    session.expire_all()
    assert (given.k_scores, given.k_participation, given.k_comments) == (7, 7, 9)


def test_raising_applies_at_once_and_lowering_only_to_cycles_opened_after(
    session: Session,
) -> None:
    update_settings(session, threshold=6, threshold_participation=6, threshold_comments=8)
    before = open_cycle(session, 0)
    session.commit()

    # Lowering every kind: the cycle opened before keeps what its people were told.
    update_settings(session, threshold=4, threshold_participation=3, threshold_comments=4)
    session.commit()
    lowered = thresholds(session)
    assert lowered == Thresholds(4, 3, 4)
    assert cycle_thresholds(before, lowered) == Thresholds(6, 6, 8)
    after = open_cycle(session, 1)
    session.commit()
    assert cycle_thresholds(after, lowered) == Thresholds(4, 3, 4)

    # Raising applies at once, to both.
    update_settings(session, threshold=7, threshold_participation=9, threshold_comments=9)
    session.commit()
    raised = thresholds(session)
    assert cycle_thresholds(before, raised) == Thresholds(7, 9, 9)
    assert cycle_thresholds(after, raised) == Thresholds(7, 9, 9)


def test_a_cycle_that_locked_nothing_follows_the_settings(session: Session) -> None:
    cycle = open_cycle(session)
    cycle.k_scores = cycle.k_participation = None
    cycle.k_comments = 9  # a kind locked on its own still counts
    session.commit()
    assert cycle_thresholds(cycle, Thresholds(4, 3, 6)) == Thresholds(4, 3, 9)
    cycle.k_comments = None
    assert cycle_thresholds(cycle, Thresholds(4, 3, 6)) == Thresholds(4, 3, 6)


def test_the_tick_locks_the_configured_defaults_for_kinds_never_set(session: Session) -> None:
    org = make_org(session, {"Alpha": 2})
    make_schedule(session, org)
    update_settings(session, threshold_participation=3)
    session.commit()
    report = tick(
        session,
        now=MONDAY_0900_LONDON_WINTER + timedelta(seconds=20),
        defaults=Thresholds(scores=6, participation=8, comments=9),
    )
    session.commit()
    (cycle_id,) = report.opened_cycle_ids
    cycle = session.get(Cycle, cycle_id)
    assert cycle is not None
    assert (cycle.k_scores, cycle.k_participation, cycle.k_comments) == (6, 3, 9)
