"""Plotly figures as plain dicts, built from column arrays of reporting rows.

Dash sends a figure to the browser as JSON whatever it is built from, and plotly.js lays it
out; building plotly.graph_objects first would validate every property of every trace in
Python on each callback, which costs more than reading the aggregates. So figures are the
dicts plotly.js reads, one trace per series, with numpy arrays for the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from pulse.instrument import SCALE_LABELS, THEME_HIGHER_IS_BETTER, THEME_LABELS, THEMES

# Colour-blind-safe choices: cividis for scores (perceptually uniform, readable with any common
# colour vision deficiency) and one Okabe-Ito accent reserved for significant changes only.
SCORE_SCALE = "Cividis"
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


def _fmt(values: np.ndarray, pattern: str) -> np.ndarray:
    return np.char.mod(pattern, np.nan_to_num(values.astype(float)))


def overview_heatmap(
    rows: Sequence[Any], team_labels: dict[int, str], team_order: Sequence[int], k: int
) -> Figure:
    """Teams × themes for one cycle: colour = score, text = mean and 95% interval, or where a
    figure is hidden the honest reason the reports give (pulse.reporting.pattern.state_text);
    a cell with no row at all had no survey."""
    if not team_order:
        return empty_figure("No results for your teams yet.")
    position = {team_id: i for i, team_id in enumerate(team_order)}
    theme_pos = {theme: j for j, theme in enumerate(THEMES)}
    shape = (len(team_order), len(THEMES))
    z = np.full(shape, np.nan)
    low = np.full(shape, np.nan)
    high = np.full(shape, np.nan)
    change = np.full(shape, "", dtype=object)
    reason = np.full(shape, "no survey", dtype=object)
    if rows:
        cols = columns(rows, "team_id", "theme", "mean", "ci_low", "ci_high", "change", "reason")
        keep = np.array([t in position for t in cols["team_id"]], dtype=bool)
        ti = np.array([position.get(t, 0) for t in cols["team_id"]], dtype=int)[keep]
        hi = np.array([theme_pos.get(t, 0) for t in cols["theme"]], dtype=int)[keep]
        z[ti, hi] = cols["mean"][keep]
        low[ti, hi] = cols["ci_low"][keep]
        high[ti, hi] = cols["ci_high"][keep]
        change[ti, hi] = np.where(cols["change"][keep] == None, "", cols["change"][keep])  # noqa: E711
        given = cols["reason"][keep]
        reason[ti, hi] = np.where(given == None, f"fewer than {k} responses", given)  # noqa: E711
    marks = np.where(change == "up", " ▲", np.where(change == "down", " ▼", ""))
    shown = ~np.isnan(z)
    text = np.where(
        shown,
        _fmt(z, "%.1f").astype(object)
        + marks
        + "<br>("
        + _fmt(low, "%.1f")
        + "–"
        + _fmt(high, "%.1f")
        + ")",
        "",
    )
    hover_change = np.where(
        change == "up",
        "significant rise",
        np.where(change == "down", "significant drop", "no detectable change"),
    )
    hover_change = np.where(shown, hover_change, "")
    y = [team_labels.get(t, str(t)) for t in team_order]
    ids = np.repeat(np.array(team_order, dtype=object)[:, None], len(THEMES), axis=1)
    labels = [THEME_LABELS[t] for t in THEMES]
    theme_names = np.repeat(np.array(labels, dtype=object)[None, :], len(team_order), axis=0)
    custom = np.dstack([ids, hover_change, theme_names])
    hover = "%{y}<br>%{customdata[2]}: %{text}<br>%{customdata[1]}<extra></extra>"
    data = []
    # Safety and learning share a "higher is better" bar; the AI concern index gets its own,
    # reversed so that the worse end is the same dark colour, and says so in its title.
    good = [j for j, t in enumerate(THEMES) if THEME_HIGHER_IS_BETTER[t]]
    concern = [j for j, t in enumerate(THEMES) if not THEME_HIGHER_IS_BETTER[t]]
    # Numeric x positions: a heatmap trace of a single category column has no width otherwise.
    for idx, title, reverse, x_bar in (
        (good, "Score<br>higher =<br>better", False, 1.01),
        (concern, "AI<br>concern<br>higher =<br>worse", True, 1.12),
    ):
        data.append(
            {
                "type": "heatmap",
                "z": z[:, idx],
                "x": idx,
                "y": y,
                "text": text[:, idx],
                "texttemplate": "%{text}",
                "customdata": custom[:, idx, :],
                "hovertemplate": hover,
                "colorscale": SCORE_SCALE,
                "reversescale": reverse,
                "zmin": 1,
                "zmax": 5,
                "xgap": 3,
                "ygap": 3,
                "colorbar": {
                    "title": {"text": title, "side": "top"},
                    "x": x_bar,
                    "len": 0.9,
                    "thickness": 14,
                },
            }
        )
    # Hidden cells carry their reason as a text trace of their own: a heatmap draws nothing,
    # not even its rows, where every value is missing (an open cycle hides them all).
    rows_at, cols_at = np.nonzero(~shown)
    data.append(
        {
            "type": "scatter",
            "mode": "text",
            "x": cols_at.tolist(),
            "y": [y[r] for r in rows_at.tolist()],
            "text": [str(reason[r, c]) for r, c in zip(rows_at, cols_at, strict=True)],
            "textfont": {"color": "#333333"},
            "showlegend": False,
            "hovertemplate": "%{y}<br>%{text}<extra></extra>",
        }
    )
    layout = dict(
        font=FONT,
        height=max(260, 90 + 56 * len(team_order)),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        plot_bgcolor=NO_DATA_GREY,
        xaxis={
            "side": "top",
            "tickmode": "array",
            "tickvals": list(range(len(THEMES))),
            "ticktext": labels,
            "range": [-0.5, len(THEMES) - 0.5],
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"autorange": "reversed", "automargin": True, "showgrid": False},
    )
    return {"data": data, "layout": layout}


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
        THEME_LABELS[t] + ("" if THEME_HIGHER_IS_BETTER[t] else " (higher = more concern)")
        for t in THEMES
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
                    "textposition": "top center",
                    "textfont": {"color": CHANGE_COLOUR},
                    "legendgroup": "change",
                    "showlegend": first,
                    "hovertemplate": "%{x}: %{text}<extra></extra>",
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
        height=860,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.05},
        plot_bgcolor="white",
        hovermode="closest",
    )
    return {"data": data, "layout": layout}


def item_distribution(items: Sequence[Any], k: int) -> Figure:
    """One stacked bar per item: the share of each answer 1–5; hidden items read as such."""
    if not items:
        return empty_figure("No item results for this cycle.")
    labels = [f"{THEME_LABELS.get(i.theme, i.theme)}: {i.wording}" for i in items]
    counts = np.array(
        [[float((i.distribution or {}).get(v, 0)) for v in range(1, 6)] for i in items]
    )
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts * 100, totals, out=np.full_like(counts, np.nan), where=totals > 0)
    hidden = np.array([i.suppressed for i in items], dtype=bool)
    shares[hidden] = np.nan
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "y": labels,
            "x": shares[:, v - 1],
            "orientation": "h",
            "name": SCALE_LABELS[v],
            "marker": {"color": SCALE_COLOURS[v - 1]},
            "hovertemplate": "%{y}<br>" + SCALE_LABELS[v] + ": %{x:.0f}%<extra></extra>",
        }
        for v in range(1, 6)
    ]
    data.append(
        {
            "type": "scatter",
            "y": np.array(labels, dtype=object)[hidden],
            "x": np.full(int(hidden.sum()), 50),
            "mode": "text",
            "text": [
                i.reason or f"fewer than {k} responses"
                for i, h in zip(items, hidden, strict=True)
                if h
            ],
            "showlegend": False,
            "hoverinfo": "skip",
        }
    )
    layout = dict(
        barmode="stack",
        font=FONT,
        height=max(260, 70 + 44 * len(items)),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"range": [0, 100], "title": {"text": "% of answers"}, "automargin": True},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": 1.08},
        plot_bgcolor="white",
    )
    return {"data": data, "layout": layout}


def compare_points(rows: Sequence[Any]) -> Figure:
    """Team vs its department and the organisation: mean with 95% interval per theme."""
    if not rows:
        return empty_figure("No comparison available for this cycle.")
    # Grouped by name: "Rest of organisation" shares the organisation's id.
    cols = columns(rows, "team", "theme", "mean", "ci_low", "ci_high")
    palette = ("#0072B2", "#E69F00", "#56B4E9", "#999999")
    data = []
    for index, group in enumerate(dict.fromkeys(cols["team"])):
        mask = cols["team"] == group
        mean = cols["mean"][mask]
        data.append(
            {
                "type": "scatter",
                "x": [THEME_LABELS.get(t, t) for t in cols["theme"][mask]],
                "y": mean,
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": cols["ci_high"][mask] - mean,
                    "arrayminus": mean - cols["ci_low"][mask],
                },
                "mode": "markers",
                "marker": {"size": 12, "color": palette[index % len(palette)]},
                "name": str(group),
                "hovertemplate": "%{x}: %{y:.1f}<extra>%{fullData.name}</extra>",
            }
        )
    layout = dict(
        scattermode="group",
        font=FONT,
        height=380,
        yaxis={"range": [1, 5], "title": {"text": "Mean (1–5)"}, "automargin": True},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": 1.12},
    )
    return {"data": data, "layout": layout}
