"""Accessible HTML pieces of the dashboard: tables, comment lists, action lists, guide cards."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dash_table, html

from pulse.actions.guide import Prompt
from pulse.actions.service import STATUS_LABELS, VERDICT_LABELS, VERDICTS, FeedbackSummary
from pulse.instrument import FAVOURABLE_LABELS, THEME_LABELS, THEMES
from pulse.reporting.wording import favourable_pct, item_label


def notice(message: str, color: str = "secondary") -> dbc.Alert:
    return dbc.Alert(message, color=color, className="my-3")


def _pct(value: float | None) -> str:
    """A 0–100 percentage as a whole number (the confidentiality rules allow no finer)."""
    return "—" if value is None else f"{value:.0f}%"


def took_part(row: Any) -> float | None:
    """Participation as a 0–100 percentage where the rules allow it (rate is None otherwise)."""
    return None if row.rate is None else float(row.rate)


def _table(table_id: str, columns: dict[str, str], rows: list[dict[str, str]], **extra: Any) -> Any:
    """A plain, sortable table: one component fed rows of text, however many rows there are
    (a Dash component per cell costs more to build than the report costs to read)."""
    return dash_table.DataTable(
        id=table_id,
        columns=[{"name": name, "id": key} for key, name in columns.items()],
        data=rows,
        sort_action="native",
        style_as_list_view=True,
        # Cells wrap (long names break anywhere) so the table fits a phone's width rather
        # than pushing the page sideways.
        style_cell={
            "textAlign": "left",
            "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "padding": "4px 8px",
            "whiteSpace": "normal",
            "height": "auto",
            "minWidth": "0",
            "overflowWrap": "anywhere",
        },
        style_table={"maxWidth": "100%"},
        style_header={"fontWeight": "bold"},
        **extra,
    )


def took_part_share(row: Any) -> str | None:
    """A rate as leaders read it ("73%"; while the cycle is open its coarse step, "at least
    50%" or "under 10%"), or None where it is not shown."""
    share = took_part(row)
    if share is None:
        return None
    if row.state == "open":
        return "under 10%" if share == 0 else f"at least {_pct(share)}"
    return _pct(share)


def _took_part_text(row: Any, hidden: str) -> str:
    """A rate, or why it is not shown."""
    return took_part_share(row) or str(row.reason or hidden)


def participation_table(rows: Sequence[Any], k: int) -> Any:
    """Who took part, per team; an organisation-wide view has hundreds of teams."""
    if not rows:
        return notice("No participation figures for this cycle.")
    hidden = "not shown, to keep small groups anonymous"
    return _table(
        "participation-table",
        {"team": "Team", "took_part": "Took part"},
        [
            {
                "team": row.team,
                "took_part": _took_part_text(row, hidden),
            }
            for row in rows
        ],
        page_size=25,
    )


def favourable_table(
    items: Sequence[Any], k: int, reverse: Collection[tuple[str, int]] = frozenset()
) -> Any:
    """Per item: the share agreeing (4–5) and the favourable share after reverse coding, the
    same for most items and the other end of the scale for a reverse-worded one."""
    if not items:
        return html.Div()
    rows = []
    for item in items:
        hidden = item.suppressed or item.top2_pct is None
        why = item.reason or f"fewer than {k} responses"
        rows.append(
            {
                "theme": THEME_LABELS.get(item.theme, item.theme),
                "item": item_label(item, reverse),
                "agree": why if hidden else _pct(item.top2_pct),
                "favourable": why if hidden else _pct(favourable_pct(item, reverse)),
            }
        )
    return _table(
        "favourable-table",
        {
            "theme": "Theme",
            "item": "Item",
            "agree": "Agree (4–5)",
            "favourable": "Favourable (after reverse coding)",
        },
        rows,
    )


def compare_table(rows: Sequence[Any]) -> Any:
    if not rows:
        return html.Div()
    data = []
    for row in rows:
        if row.suppressed or row.mean is None:
            figure = row.reason or "not shown"
            favourable = "—"
        else:
            figure = f"{row.mean:.1f} ({row.ci_low:.1f}–{row.ci_high:.1f})"
            # "favourable" or, for AI adoption, "concerned": said beside each figure.
            kind = FAVOURABLE_LABELS.get(row.theme, "% favourable").removeprefix("% ")
            favourable = f"{_pct(row.favourable_pct)} {kind}"
        data.append(
            {
                "group": row.team,
                "theme": THEME_LABELS.get(row.theme, row.theme),
                "figure": figure,
                "favourable": favourable,
            }
        )
    return _table(
        "compare-table",
        {
            "group": "Group",
            "theme": "Theme",
            "figure": "Mean (95% interval)",
            "favourable": "Favourable (concerned, for AI)",
        },
        data,
    )


def comment_list(rows: Sequence[Any], k: int) -> html.Div:
    if not rows:
        return notice(
            f"No comments to show: comments appear only for groups of at least {k} "
            "respondents, shuffled and without dates."
        )
    sections = []
    for theme in (*THEMES, None):
        bodies = [row.body for row in rows if row.theme == theme]
        if not bodies:
            continue
        title = THEME_LABELS[theme] if theme else "General"
        sections.append(
            html.Section(
                [
                    html.H2(title, className="h6"),
                    html.Ul([html.Li(body) for body in bodies], className="list-unstyled"),
                ],
                className="mb-3",
            )
        )
    note = html.P("Shown in random order, without dates.", className="text-muted small")
    return html.Div([note, *sections], id="comment-list")


def _verdicts(summary: FeedbackSummary | None, k: int) -> str:
    if summary is None or summary.suppressed or summary.counts is None:
        return f"fewer than {k} answers so far"
    counts = " · ".join(f"{VERDICT_LABELS[v]}: {summary.counts[v]}" for v in VERDICTS)
    return f"{counts} ({summary.respondents} answers)"


def action_record(action: Any, summary: FeedbackSummary | None, k: int) -> dict[str, str]:
    """One action as the list shows it and the download holds it."""
    return {
        "recorded": action.created_at.date().isoformat(),
        "theme": THEME_LABELS.get(action.theme, action.theme),
        "action": action.text,
        "owner": action.owner or "—",
        "due": action.due_on.isoformat() if action.due_on else "—",
        "status": STATUS_LABELS.get(action.status, action.status),
        "did_it_help": _verdicts(summary, k),
    }


ACTION_COLUMNS = {
    "recorded": "Recorded",
    "theme": "Theme",
    "action": "Action",
    "owner": "Owner",
    "due": "Due",
    "status": "Status",
    "did_it_help": "Did it help?",
}


def action_list(
    actions: Sequence[Any],
    summaries: dict[int, FeedbackSummary],
    k: int,
    table_id: str = "action-table",
) -> Any:
    if not actions:
        return notice("No actions recorded for this team yet.")
    records = [action_record(action, summaries.get(action.id), k) for action in actions]
    head = html.Tr([html.Th(name, scope="col") for name in ACTION_COLUMNS.values()])
    body = [html.Tr([html.Td(record[key]) for key in ACTION_COLUMNS]) for record in records]
    return dbc.Table([html.Thead(head), html.Tbody(body)], size="sm", responsive=False, id=table_id)


def guide_cards(prompts: Sequence[Prompt]) -> html.Div:
    if not prompts:
        return html.P(
            "Nothing stands out in the latest results. Keep asking what helps.",
            className="text-muted",
        )
    return html.Div(
        [
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H3(prompt.headline, className="h6 card-title"),
                        html.P(prompt.text, className="card-text mb-0"),
                    ]
                ),
                className="mb-2 border-start border-4 border-info",
            )
            for prompt in prompts
        ],
        className="guide",
    )
