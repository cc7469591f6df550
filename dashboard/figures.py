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


def _fmt(values: np.ndarray, pattern: str) -> np.ndarray:
    return np.char.mod(pattern, np.nan_to_num(values.astype(float)))


def _wrap(text: str, width: int = 22) -> str:
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


def _short(name: str, limit: int) -> str:
    """A long team name cut to fit the label column (the tooltip has it whole)."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def oriented(theme: str, mean: np.ndarray) -> np.ndarray:
    """A score turned so that higher is better for every theme (the AI concern index runs the
    other way), so that one colour means the same thing in every column."""
    return mean if THEME_HIGHER_IS_BETTER.get(theme, True) else (6.0 - mean)


def overview_heatmap(
    rows: Sequence[Any],
    team_labels: dict[int, str],
    team_order: Sequence[int],
    k: int,
    took_part: dict[int, str | None] | None = None,
    depths: dict[int, int] | None = None,
    *,
    narrow: bool = False,
) -> Figure:
    """Teams × themes for one cycle, rows in the order given (the tree): colour = score on one
    scale where better is blue for every theme, text = mean and 95% interval, or where a
    figure is hidden the honest reason the reports give (pulse.reporting.pattern.state_text);
    a cell with no row at all had no survey. The tooltip adds n and participation."""
    if not team_order:
        return empty_figure("No results for your teams yet.")
    took_part = took_part or {}
    position = {team_id: i for i, team_id in enumerate(team_order)}
    theme_pos = {theme: j for j, theme in enumerate(THEMES)}
    shape = (len(team_order), len(THEMES))
    z = np.full(shape, np.nan)
    low = np.full(shape, np.nan)
    high = np.full(shape, np.nan)
    count = np.full(shape, "", dtype=object)
    change = np.full(shape, "", dtype=object)
    reason = np.full(shape, "no survey", dtype=object)
    if rows:
        cols = columns(
            rows, "team_id", "theme", "mean", "ci_low", "ci_high", "change", "reason", "n"
        )
        keep = np.array([t in position for t in cols["team_id"]], dtype=bool)
        ti = np.array([position.get(t, 0) for t in cols["team_id"]], dtype=int)[keep]
        hi = np.array([theme_pos.get(t, 0) for t in cols["theme"]], dtype=int)[keep]
        z[ti, hi] = cols["mean"][keep]
        low[ti, hi] = cols["ci_low"][keep]
        high[ti, hi] = cols["ci_high"][keep]
        count[ti, hi] = np.where(cols["n"][keep] == None, "", cols["n"][keep])  # noqa: E711
        change[ti, hi] = np.where(cols["change"][keep] == None, "", cols["change"][keep])  # noqa: E711
        given = cols["reason"][keep]
        reason[ti, hi] = np.where(given == None, f"fewer than {k} responses", given)  # noqa: E711
    marks = np.where(change == "up", " ▲", np.where(change == "down", " ▼", ""))
    shown = ~np.isnan(z)
    colour = np.column_stack([oriented(t, z[:, j]) for j, t in enumerate(THEMES)])
    interval = _fmt(low, "%.1f").astype(object) + "–" + _fmt(high, "%.1f")
    text = np.where(shown, _fmt(z, "%.1f").astype(object) + marks + "<br>(" + interval + ")", "")
    hover_change = np.where(
        change == "up",
        "significant rise",
        np.where(change == "down", "significant drop", "no detectable change"),
    )
    y = [team_labels.get(t, str(t)) for t in team_order]
    part = np.array(
        [f"{took_part[t]} took part" if took_part.get(t) else "" for t in team_order],
        dtype=object,
    )
    part = np.repeat(part[:, None], len(THEMES), axis=1)
    labels = [THEME_LABELS[t] for t in THEMES]
    theme_names = np.repeat(np.array(labels, dtype=object)[None, :], len(team_order), axis=0)
    # A shown cell's tooltip: mean, interval, n, change, participation. A hidden one's: the
    # reason only, never an n (INSTRUMENT.md: a hidden figure carries no n or hint).
    detail = np.where(
        shown,
        _fmt(z, "%.1f").astype(object)
        + " (95% interval "
        + interval
        + ")<br>n = "
        + count.astype(str)
        + " answers · "
        + hover_change,
        reason,
    )
    custom = np.dstack([theme_names, detail, part])
    hover = "<b>%{customdata[0]}</b> · %{y}<br>%{customdata[1]}<br>%{customdata[2]}<extra></extra>"
    data: list[dict[str, Any]] = [
        {
            "type": "heatmap",
            "z": np.where(shown, colour, np.nan),
            "x": list(range(len(THEMES))),
            "y": y,
            "text": text,
            "texttemplate": "%{text}",
            "textfont": {"size": 12 if narrow else 13},
            "customdata": custom,
            "hovertemplate": hover,
            "colorscale": SCORE_SCALE,
            "zmin": SCORE_RANGE[0],
            "zmax": SCORE_RANGE[1],
            "xgap": 3,
            "ygap": 3,
            "colorbar": {
                "orientation": "h",
                "title": {
                    "text": "Same colours for every theme",
                    "side": "top",
                    "font": {"size": 12},
                },
                "tickvals": [SCORE_RANGE[0], 3.5, SCORE_RANGE[1]],
                "ticktext": ["worse", "middle", "better"],
                "x": 0.5,
                "xanchor": "center",
                "y": -0.02,
                "yanchor": "top",
                "len": 0.9,
                "thickness": 12,
            },
        }
    ]
    # Hidden cells carry their reason as a text trace of their own: a heatmap draws nothing,
    # not even its rows, where every value is missing (an open cycle hides them all). A group's
    # measures are hidden together, so a row hidden throughout says why once, across the row,
    # where a phone has room for it.
    # A phone's cells are a third as wide: smaller type, shorter lines, a tighter indent.
    row_wrap, label_size, indent, char = (28, 10, 8, 5.6) if narrow else (48, 12, 14, 7.0)
    xs: list[float] = []
    ys: list[str] = []
    texts: list[str] = []
    hovers: list[list[Any]] = []
    for r in range(len(team_order)):
        hidden = np.flatnonzero(~shown[r])
        if hidden.size == len(THEMES) and len(set(reason[r].tolist())) == 1:
            spots = [(float(len(THEMES) - 1) / 2, _wrap(str(reason[r, 0]), row_wrap), 0)]
        else:
            spots = [(float(c), _wrap(str(reason[r, c])), int(c)) for c in hidden]
        for x, label, c in spots:
            xs.append(x)
            ys.append(y[r])
            texts.append(label)
            hovers.append(custom[r, c].tolist())
    data.append(
        {
            "type": "scatter",
            "mode": "text",
            "x": xs,
            "y": ys,
            "text": texts,
            "customdata": hovers,
            "textfont": {"color": "#222222", "size": label_size},
            "showlegend": False,
            "hovertemplate": hover,
        }
    )
    # Row labels as left-aligned annotations, indented by depth, so the tree reads as a tree
    # (plotly right-aligns tick labels, which hides any indent).
    depths = depths or {}
    shown_name = {
        t: _short(name, 18 if narrow else 40) for t, name in zip(team_order, y, strict=True)
    }
    widest = max(len(shown_name[t]) * char + indent * depths.get(t, 0) for t in team_order)
    left = int(min(130 if narrow else 240, 12 + widest))
    annotations = [
        {
            "text": f"<b>{shown_name[t]}</b>" if depths.get(t, 0) == 0 else shown_name[t],
            "xref": "paper",
            "yref": "y",
            "x": 0,
            "y": name,
            "xanchor": "left",
            "xshift": -left + 4 + indent * depths.get(t, 0),
            "showarrow": False,
            "font": {"size": label_size + 1},
        }
        for t, name in zip(team_order, y, strict=True)
    ]
    layout = dict(
        font=FONT,
        height=max(300, 170 + 58 * len(team_order)),
        margin={"l": left, "r": 4, "t": 10, "b": 64},
        plot_bgcolor=NO_DATA_GREY,
        annotations=annotations,
        xaxis={
            "side": "top",
            "tickmode": "array",
            "tickvals": list(range(len(THEMES))),
            "ticktext": [_wrap(label, 12) for label in labels],
            "tickangle": 0,
            "tickfont": {"size": 12},
            "range": [-0.5, len(THEMES) - 0.5],
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
            "automargin": True,
        },
        yaxis={
            "autorange": "reversed",
            "showticklabels": False,
            "ticks": "",
            "showgrid": False,
            "fixedrange": True,
        },
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
    # Each item's wording sits above its bar, across the full width, rather than as a tick
    # label: long wordings as tick labels left a phone no room for the bars.
    wording = [
        {
            "text": _wrap(label, 48),
            "xref": "paper",
            "yref": "y",
            "x": 0,
            "y": label,
            "xanchor": "left",
            "yanchor": "bottom",
            "yshift": 12,
            "align": "left",
            "showarrow": False,
            "font": {"size": 12},
        }
        for label in labels
    ]
    layout = dict(
        barmode="stack",
        bargap=0.62,
        font=FONT,
        annotations=wording,
        height=max(300, 230 + 84 * len(items)),
        margin={"l": 10, "r": 10, "t": 10, "b": 150, "autoexpand": True},
        xaxis={"range": [0, 100], "title": {"text": "% of answers"}, "automargin": True},
        yaxis={"autorange": "reversed", "showticklabels": False, "ticks": ""},
        legend=BOTTOM_LEGEND,
        plot_bgcolor="white",
    )
    return {"data": data, "layout": layout}


def item_trend(rows: Sequence[Any], opened: dict[int, date]) -> Figure:
    """One item's answers per cycle as stacked shares of 1–5, oldest first. Cycles where the
    item is hidden are left out entirely: no gap that hints at a small group."""
    shown = sorted(
        (r for r in rows if not r.suppressed and r.distribution and r.cycle_id in opened),
        key=lambda r: opened[r.cycle_id],
    )
    if not shown:
        return empty_figure("No cycle shows this item's answers for this team yet.")
    x = [opened[r.cycle_id].isoformat() for r in shown]
    counts = np.array([[float(r.distribution.get(v, 0)) for v in range(1, 6)] for r in shown])
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts * 100, totals, out=np.zeros_like(counts), where=totals > 0)
    data = [
        {
            "type": "bar",
            "x": x,
            "y": shares[:, v - 1],
            "name": SCALE_LABELS[v],
            "marker": {"color": SCALE_COLOURS[v - 1]},
            "hovertemplate": "%{x}<br>" + SCALE_LABELS[v] + ": %{y:.0f}%<extra></extra>",
        }
        for v in range(1, 6)
    ]
    layout = dict(
        barmode="stack",
        font=FONT,
        height=440,
        margin={"l": 10, "r": 10, "t": 10, "b": 150, "autoexpand": True},
        yaxis={"range": [0, 100], "title": {"text": "% of answers"}, "automargin": True},
        xaxis={"type": "category", "automargin": True},
        legend=BOTTOM_LEGEND,
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
                # Two short lines per theme, so the labels fit under the points on a phone.
                "x": [THEME_LABELS.get(t, t).replace(" ", "<br>", 1) for t in cols["theme"][mask]],
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
        xaxis={"automargin": True, "tickangle": 0},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": 1.12},
    )
    return {"data": data, "layout": layout}
