"""The comments tab: themes, masked comments with their replies, and the reply box.

Kept apart from panels.py so the tab can grow (replies, themes) without touching the rest of
the dashboard's pieces. Everything shown comes from pulse.comments.report.leader_comments,
the same view `pulse report comments` prints.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from pulse.comments.replies import REACTIONS, REPLY_BOX_WARNING, ReplyView
from pulse.comments.report import LeaderComments
from pulse.instrument import THEME_LABELS, THEMES


def _reply(reply: ReplyView) -> html.Li:
    said = " — ".join(part for part in (reply.reaction, reply.body) if part)
    public = " (shared with the team)" if reply.public else ""
    return html.Li(f"{reply.author}: {said}{public}", className="small text-muted")


def _themes(view: LeaderComments) -> list[Any]:
    if not view.themes:
        return []
    cards = [
        html.Li(
            [
                html.Span(theme.label, className="fw-semibold"),
                html.Span(f" · {theme.count} comments · ", className="text-muted"),
                html.Span(", ".join(theme.keywords), className="text-muted"),
                html.Ul([html.Li(example) for example in theme.examples], className="small"),
            ],
            className="mb-2",
        )
        for theme in view.themes
    ]
    note = (
        f"Found on this server from the comments below; a theme is shown only when at least "
        f"{view.k} different comments make it up."
    )
    return [
        html.H2("Themes", className="h6"),
        html.P(note, className="text-muted small"),
        html.Ul(cards, className="list-unstyled", id="comment-themes"),
    ]


def reply_box(view: LeaderComments) -> html.Section:
    """Acknowledge or answer one comment; the warning sits next to the box, not in a help page."""
    options = [
        {"label": (c.text[:70] + "…") if len(c.text) > 70 else c.text, "value": c.handle}
        for c in view.comments
    ]
    return html.Section(
        [
            html.H2("Reply to a comment", className="h6", id="reply-heading"),
            dbc.Alert(REPLY_BOX_WARNING, color="warning", className="small", id="reply-warning"),
            dbc.Label("Comment", html_for="reply-comment"),
            dbc.Select(id="reply-comment", options=options, placeholder="Choose a comment"),
            dbc.Label("Acknowledge", html_for="reply-reaction", className="mt-2"),
            dbc.RadioItems(
                id="reply-reaction",
                options=[{"label": label, "value": key} for key, label in REACTIONS.items()],
            ),
            dbc.Label("Reply (signed with your name)", html_for="reply-text", className="mt-2"),
            dbc.Textarea(id="reply-text", maxLength=2000, rows=3),
            dbc.Checkbox(
                id="reply-public",
                label="Share with the whole team on their next answer page",
                value=False,
                className="mt-2",
            ),
            dbc.Button("Send", id="reply-send", color="primary", className="mt-2"),
            html.Div(id="reply-result"),
        ],
        className="mt-4",
        **{"aria-labelledby": "reply-heading"},
    )


def comment_view(view: LeaderComments) -> html.Div:
    """Themes first, then the comments by their theme tag, each with its replies."""
    if not view.comments:
        return html.Div(dbc.Alert(view.notice or "No comments to show.", color="secondary"))
    sections = []
    for tag in (*THEMES, None):
        chosen = [c for c in view.comments if c.theme == tag]
        if not chosen:
            continue
        title = THEME_LABELS[tag] if tag else "General"
        items = [
            html.Li([html.Span(c.text), html.Ul([_reply(r) for r in c.replies])], className="mb-2")
            for c in chosen
        ]
        sections.append(
            html.Section(
                [html.H2(title, className="h6"), html.Ul(items, className="list-unstyled")],
                className="mb-3",
            )
        )
    note = html.P(
        "Shown in random order, without dates; names, email addresses and phone numbers are "
        "masked.",
        className="text-muted small",
    )
    return html.Div([*_themes(view), note, *sections, reply_box(view)], id="comment-list")
