"""The overview's heatmap: the viewer's groups × themes for one cycle, in the tree's order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dashboard.figures import (
    FONT,
    NO_DATA_GREY,
    SCORE_RANGE,
    SCORE_SCALE,
    Figure,
    change_note,
    columns,
    empty_figure,
    wrap,
)
from pulse.instrument import THEME_HIGHER_IS_BETTER, THEME_LABELS, THEMES


def _tenths(values: np.ndarray) -> np.ndarray:
    """Each value written to one decimal (0.0 where there is none), as an object array that
    joins with other strings by `+` (a list comprehension: numpy's char.mod is slower)."""
    flat = np.nan_to_num(values.astype(float)).ravel().tolist()
    return np.array([f"{v:.1f}" for v in flat], dtype=object).reshape(values.shape)


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
    interval = _tenths(low) + "–" + _tenths(high)
    mean = _tenths(z)
    text = np.where(shown, mean + marks + "<br>(" + interval + ")", "")
    # A flag's tooltip says what it was compared with (change_note); no flag, no comparison.
    hover_change = np.full(shape, "no detectable change", dtype=object)
    for row in rows:
        if row.change in ("up", "down") and row.team_id in position and row.theme in theme_pos:
            hover_change[position[row.team_id], theme_pos[row.theme]] = change_note(row)
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
        mean
        + " (95% interval "
        + interval
        + ")<br>n = "
        + count.astype(str)
        + " answers<br>"
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
            spots = [(float(len(THEMES) - 1) / 2, wrap(str(reason[r, 0]), row_wrap), 0)]
        else:
            spots = [(float(c), wrap(str(reason[r, c])), int(c)) for c in hidden]
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
    # What every label shares goes once into the template's annotation defaults: a thousand
    # groups would otherwise repeat it a thousand times in what the browser downloads.
    label_defaults = {
        "xref": "paper",
        "yref": "y",
        "x": 0,
        "xanchor": "left",
        "showarrow": False,
        "font": {"size": label_size + 1},
    }
    annotations = [
        {
            "text": f"<b>{shown_name[t]}</b>" if depths.get(t, 0) == 0 else shown_name[t],
            "y": name,
            "xshift": -left + 4 + indent * depths.get(t, 0),
        }
        for t, name in zip(team_order, y, strict=True)
    ]
    layout = dict(
        template={"layout": {"annotationdefaults": label_defaults}},
        font=FONT,
        height=max(300, 170 + 58 * len(team_order)),
        margin={"l": left, "r": 4, "t": 10, "b": 64},
        plot_bgcolor=NO_DATA_GREY,
        annotations=annotations,
        xaxis={
            "side": "top",
            "tickmode": "array",
            "tickvals": list(range(len(THEMES))),
            "ticktext": [wrap(label, 12) for label in labels],
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
