"""The team view's trends: three theme panels over a participation strip, one time axis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from dashboard.figures import (
    ACTION_COLOUR,
    ANCHOR_COLOUR,
    BAND_COLOUR,
    BOTTOM_LEGEND,
    CHANGE_COLOUR,
    FONT,
    LINE_COLOUR,
    Figure,
    change_note,
    columns,
)
from pulse.instrument import THEME_HIGHER_IS_BETTER, THEME_LABELS, THEMES


def _dates(values: np.ndarray) -> list[str]:
    return [d.isoformat() if isinstance(d, date) else str(d) for d in values]


def _band(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[list[Any], list[Any]]:
    """The 95% band as closed polygons, one per run of shown cycles (suppressed ones are gaps)."""
    shown = np.flatnonzero(~(np.isnan(low) | np.isnan(high)))
    if not shown.size:
        return [], []
    xs: list[Any] = []
    ys: list[Any] = []
    # One polygon per run of consecutive shown cycles: a band never bridges a hidden cycle.
    for run in np.split(shown, np.flatnonzero(np.diff(shown) != 1) + 1):
        xs.extend([*x[run], *x[run][::-1], None])
        ys.extend([*high[run], *low[run][::-1], None])
    return xs, ys


# Trends: three theme panels over a participation strip, sharing one time axis.
_ROW_HEIGHTS = (0.28, 0.28, 0.28, 0.16)
_ROW_SPACING = 0.06


def _row_domains() -> list[tuple[float, float]]:
    """Each panel's vertical extent on the page, top panel first."""
    usable = 1.0 - _ROW_SPACING * (len(_ROW_HEIGHTS) - 1)
    domains = []
    top = 1.0
    for share in _ROW_HEIGHTS:
        height = usable * share / sum(_ROW_HEIGHTS)
        domains.append((round(top - height, 4), round(top, 4)))
        top -= height + _ROW_SPACING
    return domains


def _axis(row: int) -> str:
    return "" if row == 1 else str(row)


def _stacked_layout(titles: list[str]) -> dict[str, Any]:
    """Axes and panel titles of the stacked panels; the bottom axis carries the dates."""
    bottom = len(_ROW_HEIGHTS)
    layout: dict[str, Any] = {"annotations": []}
    for row, (low, high) in enumerate(_row_domains(), start=1):
        name = _axis(row)
        x_axis: dict[str, Any] = {
            "anchor": f"y{name}",
            "domain": [0.0, 1.0],
            "showgrid": True,
            "gridcolor": "#eeeeee",
        }
        if row != bottom:
            x_axis.update(matches=f"x{bottom}", showticklabels=False)
        layout[f"xaxis{name}"] = x_axis
        layout[f"yaxis{name}"] = {
            "anchor": f"x{name}",
            "domain": [low, high],
            # Room for the tick labels ("100"): plotly.js leaves none unless asked.
            "automargin": True,
            "showgrid": True,
            "gridcolor": "#eeeeee",
            **({"range": [0, 100]} if row == bottom else {"range": [1, 5], "dtick": 1}),
        }
        layout["annotations"].append(
            {
                "text": titles[row - 1],
                "font": {"size": 16},
                "showarrow": False,
                "x": 0.5,
                "xanchor": "center",
                "xref": "paper",
                "y": high,
                "yanchor": "bottom",
                "yref": "paper",
            }
        )
    return layout


def team_trends(
    rows: Sequence[Any],
    participation: Sequence[Any],
    anchors: dict[str, tuple[list[str], list[float]]],
    actions: Sequence[Any],
    opened: dict[int, date],
) -> Figure:
    """Per theme: mean, 95% band, anchor item, flagged changes and actions; then participation."""
    titles = [
        THEME_LABELS[t] + ("" if THEME_HIGHER_IS_BETTER[t] else " (higher = worse)") for t in THEMES
    ] + ["Participation (% of invited)"]
    cols = columns(rows, "theme", "cycle_opened", "mean", "ci_low", "ci_high", "change")
    action_cols = columns(actions, "theme", "created_at", "text")
    data: list[dict[str, Any]] = []
    for r, theme in enumerate(THEMES, start=1):
        axes = {"xaxis": f"x{_axis(r)}", "yaxis": f"y{_axis(r)}"}
        mask = cols["theme"] == theme if rows else np.array([], dtype=bool)
        x = _dates(cols["cycle_opened"][mask]) if rows else []
        mean = cols["mean"][mask] if rows else np.array([])
        first = r == 1
        band_x, band_y = _band(
            np.array(x, dtype=object),
            cols["ci_low"][mask] if rows else np.array([]),
            cols["ci_high"][mask] if rows else np.array([]),
        )
        data.append(
            {
                "type": "scatter",
                **axes,
                "x": band_x,
                "y": band_y,
                "mode": "lines",
                "line": {"width": 0},
                "fill": "toself",
                "fillcolor": BAND_COLOUR,
                "name": "95% interval",
                "legendgroup": "band",
                "showlegend": first,
                "hoverinfo": "skip",
            }
        )
        data.append(
            {
                "type": "scatter",
                **axes,
                "x": x,
                "y": mean,
                "mode": "lines+markers",
                "name": "Theme score",
                "line": {"color": LINE_COLOUR, "width": 2},
                "marker": {"size": 5, "color": LINE_COLOUR},
                "legendgroup": "score",
                "showlegend": first,
                "hovertemplate": "%{x}: %{y:.1f}<extra>theme score</extra>",
            }
        )
        anchor_x, anchor_y = anchors.get(theme, ([], []))
        data.append(
            {
                "type": "scatter",
                **axes,
                "x": anchor_x,
                "y": anchor_y,
                "mode": "lines",
                "name": "Anchor item (asked every cycle)",
                "line": {"color": ANCHOR_COLOUR, "dash": "dot", "width": 1.5},
                "legendgroup": "anchor",
                "showlegend": first,
                "hovertemplate": "%{x}: %{y:.1f}<extra>anchor item</extra>",
            }
        )
        if rows:
            changed = mask & np.isin(cols["change"], ["up", "down"])
            direction = cols["change"][changed]
            data.append(
                {
                    "type": "scatter",
                    **axes,
                    "x": _dates(cols["cycle_opened"][changed]),
                    "y": cols["mean"][changed],
                    "mode": "markers+text",
                    "name": "Significant change",
                    "marker": {
                        "symbol": np.where(direction == "up", "triangle-up", "triangle-down"),
                        "size": 13,
                        "color": CHANGE_COLOUR,
                    },
                    "text": np.where(direction == "up", "significant rise", "significant drop"),
                    # The tooltip says what the flag was compared with (change_note).
                    "customdata": [
                        change_note(row)
                        for row, flagged in zip(rows, changed, strict=True)
                        if flagged
                    ],
                    "textposition": "top center",
                    "textfont": {"color": CHANGE_COLOUR},
                    "legendgroup": "change",
                    "showlegend": first,
                    "hovertemplate": "%{x}<br>%{customdata}<extra></extra>",
                }
            )
        if actions:
            amask = action_cols["theme"] == theme
            data.append(
                {
                    "type": "scatter",
                    **axes,
                    "x": [d.date().isoformat() for d in action_cols["created_at"][amask]],
                    "y": np.full(int(amask.sum()), 1.2),
                    "mode": "markers",
                    "name": "Team action",
                    "marker": {"symbol": "diamond", "size": 11, "color": ACTION_COLOUR},
                    "text": action_cols["text"][amask],
                    "legendgroup": "action",
                    "showlegend": first,
                    "hovertemplate": "%{x}: %{text}<extra>action</extra>",
                }
            )
    if participation:
        pcols = columns(participation, "cycle_id", "rate")
        bottom = _axis(len(_ROW_HEIGHTS))
        data.append(
            {
                "type": "bar",
                "xaxis": f"x{bottom}",
                "yaxis": f"y{bottom}",
                "x": _dates(np.array([opened.get(c) for c in pcols["cycle_id"]], dtype=object)),
                "y": pcols["rate"],
                "marker": {"color": "#999999"},
                "name": "Participation",
                "showlegend": False,
                "hovertemplate": "%{x}: %{y:.0f}%<extra>participation</extra>",
            }
        )
    layout = _stacked_layout(titles)
    layout.update(
        font=FONT,
        height=880,
        # Pinned to the figure's bottom edge in a margin of its own, not placed relative to the
        # plot: a margin grown for a wrapped legend on a phone did not shrink back after a
        # resize, and the legend then sat over the participation bars.
        margin={"l": 10, "r": 10, "t": 40, "b": 110, "autoexpand": True},
        legend=BOTTOM_LEGEND,
        plot_bgcolor="white",
        hovermode="closest",
    )
    return {"data": data, "layout": layout}
