"""How the team report words a change flag: direction, better or worse, and what it was
compared to, only where the change test recorded it."""

from __future__ import annotations

from datetime import date

from pulse.instrument import THEME_HIGHER_IS_BETTER
from pulse.reporting.rows import ThemeRow
from pulse.sharing.report import ThemeView


def _view(theme: str, change: str | None, **tested: float | int | None) -> ThemeView:
    row = ThemeRow(
        team_id=1,
        team="Target",
        parent="D1",
        cycle_id=3,
        cycle_opened=date(2026, 1, 5),
        theme=theme,
        n=8,
        mean=3.8,
        ci_low=3.4,
        ci_high=4.2,
        favourable_pct=60,
        fav_low=45,
        fav_high=73,
        change=change,
        suppressed=False,
        reason=None,
        **tested,  # type: ignore[arg-type]
    )
    return ThemeView(
        row=row,
        label=theme,
        favourable_label="% favourable",
        higher_is_better=THEME_HIGHER_IS_BETTER[theme],
    )


def test_a_flag_says_its_direction_whether_that_is_better_and_what_it_was_compared_to() -> None:
    tested = {
        "delta": 0.5,
        "delta_low": 0.2,
        "delta_high": 0.8,
        "baseline_mean": 3.3,
        "baseline_cycles": 3,
        "baseline_n": 21,
    }
    assert _view("safety", "up", **tested).change_text == (
        "Up (better): compared with 3.3 over the 3 earlier cycles, a change of +0.5 (+0.2 to +0.8)"
    )
    # AI concern is a concern index: up is worse.
    assert _view("ai", "up", **tested).change_text.startswith("Up (worse)")  # type: ignore[union-attr]
    # A flag stored before flags kept their comparison says only its direction.
    assert _view("learning", "down").change_text == "Down (worse)"
    assert _view("safety", None, **tested).change_text is None


def test_bar_positions_stay_on_the_scale() -> None:
    view = _view("safety", None)
    assert [view.position(v) for v in (1.0, 3.0, 5.0, 0.2, 5.4, None)] == [
        0.0,
        50.0,
        100.0,
        0.0,
        100.0,
        0.0,
    ]
