"""Item figures (answer distributions, one item over time) and the comparison points."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

import numpy as np

from dashboard.figures import (
    BOTTOM_LEGEND,
    FONT,
    SCALE_COLOURS,
    Figure,
    columns,
    empty_figure,
    wrap,
)
from pulse.instrument import SCALE_LABELS, THEME_LABELS
from pulse.reporting.wording import item_label


def item_distribution(
    items: Sequence[Any], k: int, reverse: Collection[tuple[str, int]] = frozenset()
) -> Figure:
    """One stacked bar per item: the share of each answer 1–5; hidden items read as such;
    reverse-worded items are marked (pulse.reporting.wording.REVERSE_NOTE)."""
    if not items:
        return empty_figure("No item results for this cycle.")
    labels = [f"{THEME_LABELS.get(i.theme, i.theme)}: {item_label(i, reverse)}" for i in items]
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
            "text": wrap(label, 48),
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
