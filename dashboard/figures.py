"""Plotly figures as plain dicts, built from column arrays of reporting rows.

Dash sends a figure to the browser as JSON whatever it is built from, and plotly.js lays it
out; building plotly.graph_objects first would validate every property of every trace in
Python on each callback, which costs more than reading the aggregates. So figures are the
dicts plotly.js reads, one trace per series, with numpy arrays for the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Scores: one diverging orange → light grey → blue scale (colour-blind safe, the ends differ in
# lightness too) over 2.5–4.5, where nearly every team mean lies, so that 0.3 points is 15 % of
# the scale and reads as a different colour; the AI concern index is turned so that blue is
# better there too. One Okabe-Ito accent is reserved for significant changes only.
SCORE_RANGE = (2.5, 4.5)
SCORE_SCALE = [
    [0.0, "#b35806"],
    [0.25, "#f1a340"],
    [0.5, "#f2f2f2"],
    [0.75, "#8db8dc"],
    [1.0, "#1f5f9e"],
]
CHANGE_COLOUR = "#D55E00"
LINE_COLOUR = "#0072B2"
ANCHOR_COLOUR = "#555555"
BAND_COLOUR = "rgba(0, 114, 178, 0.18)"
ACTION_COLOUR = "#009E73"
NO_DATA_GREY = "#d9d9d9"
# Five-point agreement scale, strongly disagree → strongly agree (diverging, colour-blind safe).
SCALE_COLOURS = ("#b35806", "#f1a340", "#e0e0e0", "#998ec3", "#542788")
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}

Figure = dict[str, Any]
# A legend in its own strip at the figure's bottom edge (its bottom margin leaves room for it
# wrapped onto several rows on a phone), never over the plotted marks.
BOTTOM_LEGEND = {
    "orientation": "h",
    "x": 0,
    "xanchor": "left",
    "yref": "container",
    "y": 0.005,
    "yanchor": "bottom",
}


def columns(rows: Sequence[Any], *fields: str) -> dict[str, np.ndarray]:
    """Turn rows (dataclasses) into one numpy array per field; None becomes NaN for numbers."""
    data: dict[str, np.ndarray] = {}
    for field in fields:
        values = [getattr(row, field) for row in rows]
        if field in {"mean", "ci_low", "ci_high", "favourable_pct", "rate", "fav_low", "fav_high"}:
            data[field] = np.array(values, dtype=float)
        else:
            data[field] = np.array(values, dtype=object)
    return data


def empty_figure(message: str) -> Figure:
    """A blank figure carrying one readable message (no data, not allowed, nothing chosen)."""
    layout = dict(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "font": {"size": 15},
                "xref": "paper",
                "yref": "paper",
            }
        ],
        height=220,
        font=FONT,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        plot_bgcolor="white",
    )
    return {"data": [], "layout": layout}


def wrap(text: str, width: int = 22) -> str:
    """Break a reason onto short lines at spaces, each line keeping its trailing space, so
    that it fits a cell on a phone and still reads as one sentence."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line.rstrip())
    return "<br>".join(lines)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def change_note(row: Any) -> str:
    """What a change flag says about itself (issue 14): the change with its 95% interval, the
    window it was measured over and the baseline it was compared with, with n on both sides.
    Only flagged rows carry a note; a hidden row carries no flag and so no note."""
    word = "Significant rise" if row.change == "up" else "Significant drop"
    delta = getattr(row, "delta", None)
    low, high = getattr(row, "delta_low", None), getattr(row, "delta_high", None)
    lines = [word]
    if delta is not None:
        lines[0] = f"{word} of {delta:+.1f}"
        if low is not None and high is not None:
            lines[0] += f" (95% interval {low:+.1f} to {high:+.1f})"
    window_n, window_cycles = getattr(row, "window_n", None), getattr(row, "window_cycles", None)
    if window_n is not None:
        lines.append(f"measured over {_plural(window_cycles or 1, 'cycle')}, n = {window_n}")
    base_n, base_cycles = getattr(row, "baseline_n", None), getattr(row, "baseline_cycles", None)
    if base_n is not None:
        mean = getattr(row, "baseline_mean", None)
        lines.append(
            f"compared with the {_plural(base_cycles or 1, 'cycle')} before, n = {base_n}"
            + ("" if mean is None else f", mean {mean:.1f}")
        )
    return "<br>".join(lines)
