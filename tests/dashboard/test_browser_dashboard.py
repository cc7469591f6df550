"""The dashboard in a real Chromium against the real app on a seeded demo database."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from dashboard.access import NOT_AVAILABLE
from pulse import demo
from pulse.actions.models import TeamAction
from pulse.audit.models import AuditEvent
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.support.browser import ARTIFACTS

pytestmark = pytest.mark.browser

LEADER = "leader@northwind.example.org"  # leads Engineering: Platform, Payments, Mobile, Data
DATA_LEAD = "data.lead@northwind.example.org"  # leads Data only


def _sign_in(browser: Any, base: str, email: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{base}/dashboard/**")
    return context, page


def _ids(app: Flask) -> dict[str, int]:
    with app.app_context(), app.extensions["pulse.db"][1]() as session:
        teams = {name: id_ for name, id_ in session.execute(select(Team.name, Team.id))}
        closed = session.scalars(
            select(Cycle.id).where(Cycle.status == "closed").order_by(Cycle.opens_at.desc())
        ).first()
    return {**teams, "cycle": closed or 0}


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # Every callback answered and drawn: nothing half laid out in the picture.
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_leader_sees_heatmap_opens_team_and_records_action(
    chromium: Any, demo_app: tuple[Flask, str]
) -> None:
    app, base = demo_app
    context, page = _sign_in(chromium, base, LEADER)
    heatmap = page.locator("#overview-heatmap")
    heatmap.locator(".annotation", has_text="Platform").first.wait_for()
    for team in ("Payments", "Data"):
        assert heatmap.locator(".annotation", has_text=team).count() == 1
    assert heatmap.locator(".annotation", has_text="Customer Support").count() == 0
    # Mobile has 4 people: it never stands alone, and says so.
    assert heatmap.locator("text=too small to report on its own").count() >= 1
    _shot(page, "overview")

    # Click Platform's psychological safety cell (its row's label gives the height).
    plot = heatmap.locator(".nsewdrag").first.bounding_box()
    label = heatmap.locator(".annotation", has_text="Platform").first.bounding_box()
    page.mouse.click(plot["x"] + plot["width"] / 6, label["y"] + label["height"] / 2)
    page.locator("#tabs .nav-link.active", has_text="Team").wait_for()
    trends = page.locator("#team-trends")
    trends.locator("text=Psychological safety").first.wait_for()
    trends.locator("text=Participation").first.wait_for()
    assert "Platform" in page.locator("#team-select option:checked").inner_text()
    _shot(page, "team")

    page.click("#tabs .nav-link:has-text('Actions & guide')")
    page.fill("#action-text", "Run a hands-on session on checking the assistant's output")
    page.click("#action-save")
    page.locator("#action-result", has_text="Action recorded").wait_for()
    _shot(page, "action-recorded")
    page.click("#tabs .nav-link:has-text('Team')")
    page.locator("#action-table", has_text="hands-on session").wait_for()
    _shot(page, "team-with-action")
    context.close()
    with app.app_context(), app.extensions["pulse.db"][1]() as session:
        action = session.scalars(select(TeamAction)).one()
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "action.recorded"))
        platform = session.scalars(select(Team.id).where(Team.name == "Platform")).one()
        assert (action.team_id, action.theme) == (platform, "safety")
        assert [event.detail["action_id"] for event in audit] == [action.id]


def _forge(
    context: Any, base: str, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, Any]]
) -> Any:
    listed = [{"id": i, "property": p} for i, p in outputs]
    body = {
        # Dash's output key: "a.prop" for one output, "..a.prop...b.prop.." for several.
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".."
        if len(outputs) > 1
        else f"{outputs[0][0]}.{outputs[0][1]}",
        "outputs": listed if len(outputs) > 1 else listed[0],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
        "state": [],
    }
    return context.request.post(
        f"{base}/dashboard/_dash-update-component",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )


def test_leader_cannot_reach_another_subtree(chromium: Any, demo_app: tuple[Flask, str]) -> None:
    app, base = demo_app
    ids = _ids(app)
    context, page = _sign_in(chromium, base, DATA_LEAD)
    heatmap = page.locator("#overview-heatmap")
    heatmap.locator(".annotation", has_text="Data").first.wait_for()
    for other in ("Platform", "Payments", "Customer Support", "Engineering"):
        assert heatmap.locator(".annotation", has_text=other).count() == 0
    # The team picker is a native <select>: its text is every option it offers.
    assert "Payments" not in page.locator("#team-select").inner_text()
    _shot(page, "other-subtree")

    payments = ids["Payments"]
    team = _forge(
        context,
        base,
        [
            ("team-trends", "figure"),
            ("team-guide", "children"),
            ("team-actions", "children"),
            ("guide", "children"),
        ],
        [("team-select", "value", payments), ("actions-version", "data", 0)],
    )
    items = _forge(
        context,
        base,
        [("items-graph", "figure"), ("items-table", "children")],
        [("team-select", "value", payments), ("cycle-select", "value", ids["cycle"])],
    )
    comments = _forge(
        context,
        base,
        [("comments", "children")],
        [("team-select", "value", payments), ("cycle-select", "value", ids["cycle"])],
    )
    for response in (team, items, comments):
        assert response.status == 200, response.text()
        text = response.text()
        assert NOT_AVAILABLE in text
        assert "Payments" not in text and "Psychological safety" not in text
    # The same forged request for the leader's own team does answer: the check is real.
    own = _forge(
        context,
        base,
        [("items-graph", "figure"), ("items-table", "children")],
        [("team-select", "value", ids["Data"]), ("cycle-select", "value", ids["cycle"])],
    )
    assert own.status == 200 and NOT_AVAILABLE not in own.text()
    context.close()


def test_hidden_cells_say_why_in_the_browser(chromium: Any, demo_app: tuple[Flask, str]) -> None:
    """The honest states, as a leader reads them: a team too small to stand alone, a team
    hidden to protect it, and the open cycle sealed until it closes."""
    app, base = demo_app
    context, page = _sign_in(chromium, base, LEADER)
    heatmap = page.locator("#overview-heatmap")
    heatmap.locator(".annotation", has_text="Platform").first.wait_for()
    # Mobile (4 invited) can never reach 5; Quality is hidden so that Mobile stays anonymous.
    too_small = "too small to report on its own; its answers count towards Engineering"
    heatmap.locator(f"text={too_small}").first.wait_for()
    assert heatmap.locator("text=hidden so that a smaller group stays anonymous").count() >= 1
    # Nothing claims "fewer than 5" for a team of more than 4 that answered.
    assert heatmap.locator("text=fewer than 5 responses").count() == 0
    _shot(page, "states-closed")
    # The open cycle: every cell sealed, and participation only as a coarse step.
    with app.app_context(), app.extensions["pulse.db"][1]() as session:
        opened = session.scalars(select(Cycle).where(Cycle.status == "open")).one()
        label = f"Opened {opened.opens_at.date().isoformat()} (open now)"
    # The one cycle picker, shared by every tab.
    page.select_option("#cycle-select", label=label)
    _shot(page, "states-open-picked")
    heatmap.locator("text=results when the cycle closes").first.wait_for()
    assert heatmap.locator("text=too small to report").count() == 0
    table = page.locator("#overview-participation")
    table.locator("text=/at least \\d+%|under 10%/").first.wait_for()
    # No exact rate of an open cycle: every figure is a step of 10 %.
    for rate in re.findall(r"(\d+)%", table.inner_text()):
        assert int(rate) % 10 == 0
    _shot(page, "states-open")
    context.close()
