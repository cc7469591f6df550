"""Every signed-in page in a real Chromium at a laptop's and a phone's size: one shell with
navigation by role, no sideways scroll, no overlapping boxes, axe-core clean."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from pulse import demo
from pulse.people.models import Person
from pulse.surveys.models import Cycle, Schedule
from pulse.teams.models import Team
from tests.conftest import IN_CI
from tests.support.axe import axe_source, axe_violations
from tests.support.browser import ARTIFACTS

pytestmark = pytest.mark.browser

LEADER = "leader@northwind.example.org"  # leads Engineering: Platform, Payments, Mobile, Data
DATA_LEAD = "data.lead@northwind.example.org"  # leads Data only
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
TABS = ("Overview", "Team", "Items", "Comments", "Compare", "Actions & guide")

# Boxes on a dashboard tab that must never cover one another.
OVERLAPS = """
() => {
  const pane = document.querySelector('.tab-pane.active');
  const boxes = [...pane.querySelectorAll(
    '.js-plotly-plot, .alert, table, .dash-table-container, .card, #action-form')]
    .filter(el => el.offsetParent !== null)
    .filter((el, _, all) => !all.some(other => other !== el && other.contains(el)));
  const found = [];
  const rects = boxes.map(el => el.getBoundingClientRect());
  for (let i = 0; i < rects.length; i++) {
    if (rects[i].height < 1 || rects[i].width < 1) {
      found.push(`${boxes[i].id || boxes[i].className} has no size`);
    }
    for (let j = i + 1; j < rects.length; j++) {
      const a = rects[i], b = rects[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) {
        const name = el => el.id || el.className;
        found.push(`${name(boxes[i])} over ${name(boxes[j])}`);
      }
    }
  }
  // Inside each chart: the legend never covers a bar or a plotted point.
  for (const plot of pane.querySelectorAll('.js-plotly-plot')) {
    const legend = plot.querySelector('.legend .bg');
    if (!legend) continue;
    const l = legend.getBoundingClientRect();
    for (const mark of plot.querySelectorAll('.bars .point path, .scatterlayer .point')) {
      const m = mark.getBoundingClientRect();
      if (m.width < 1 && m.height < 1) continue;
      const w = Math.min(l.right, m.right) - Math.max(l.left, m.left);
      const h = Math.min(l.bottom, m.bottom) - Math.max(l.top, m.top);
      if (w > 1 && h > 1) { found.push(`legend over a mark in ${plot.parentElement.id}`); break; }
    }
  }
  return found;
}
"""


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source(IN_CI)


@pytest.fixture(scope="module")
def ids(demo_app: tuple[Flask, str]) -> dict[str, int]:
    app, _ = demo_app
    with app.app_context(), app.extensions["pulse.db"][1]() as session:
        return {
            "cycle": session.scalars(select(Cycle.id).order_by(Cycle.opens_at.desc())).first() or 0,
            "person": session.scalars(select(Person.id).where(Person.email == LEADER)).one(),
            "team": session.scalars(select(Team.id).where(Team.name == "Platform")).one(),
            "schedule": session.scalars(select(Schedule.id)).first() or 0,
        }


def _admin_pages(ids: dict[str, int]) -> list[str]:
    return [
        "/admin/",
        "/admin/people",
        f"/admin/people/{ids['person']}",
        "/admin/people/import",
        "/admin/teams",
        f"/admin/teams/{ids['team']}",
        "/admin/leaders/invite",
        "/admin/schedules",
        "/admin/schedules/new",
        f"/admin/schedules/{ids['schedule']}/edit",
        "/admin/cycles",
        f"/admin/cycles/{ids['cycle']}",
        "/admin/settings",
        "/admin/instrument",
        "/admin/audit",
        "/account",
    ]


@pytest.fixture
def open_as(chromium: Any, demo_app: tuple[Flask, str]) -> Iterator[Any]:
    """Sign in as someone in a fresh browser context of a given size; closed after the test."""
    contexts: list[Any] = []
    _, base = demo_app

    def sign_in(email: str, size: str) -> Any:
        width, height = SIZES[size]
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{base}/sign-in")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", demo.DEMO_PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url(f"{base}/dashboard/**")
        page.locator("#overview-heatmap .main-svg").first.wait_for()
        page.wait_for_load_state("networkidle")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def _fits(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width} px in {viewport} px"


def _shell(page: Any, size: str, links: tuple[str, ...]) -> None:
    """The shared shell: skip link, one <main>, navigation by role and sign-out reachable."""
    assert page.locator("a.skip-link[href='#main']").count() == 1
    assert page.locator("main#main").count() == 1
    assert page.evaluate("document.documentElement.lang") == "en"
    nav = page.locator("nav.pulse-navbar")
    if size == "phone":
        # Folded behind "Menu" on a phone; the label opens it.
        assert not nav.get_by_role("link", name="Account").is_visible()
        nav.locator("label.pulse-menu-label").click()
    for name in links:
        assert nav.get_by_role("link", name=name, exact=True).is_visible(), name
    sign_out = nav.get_by_role("button", name="Sign out")
    box = sign_out.bounding_box()
    assert sign_out.is_visible() and box["x"] + box["width"] <= page.viewport_size["width"]
    if size == "phone":
        nav.locator("label.pulse-menu-label").click()


def _clean(page: Any, axe: str, where: str) -> None:
    violations = axe_violations(page, axe)
    assert not violations, f"{where}: {violations}"


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_tabs_fit_do_not_overlap_and_pass_axe(open_as: Any, axe: str, size: str) -> None:
    page = open_as(demo.ADMIN_EMAIL, size)
    # Saved first, on every run and whatever fails after: the admin's overview heatmap (the
    # organisation's tree) at this size, named for what it shows and the viewport it shows.
    width, height = SIZES[size]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"dashboard-overview-heatmap-{size}-{width}x{height}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    _shell(page, size, ("Dashboard", "Admin", "Account"))
    for tab in TABS:
        page.click(f"#tabs .nav-link:has-text('{tab}')")
        page.locator("#tabs .nav-link.active", has_text=tab).wait_for()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        _fits(page)
        assert page.evaluate(OVERLAPS) == [], tab
        _clean(page, axe, f"dashboard {tab} at {size}")


@pytest.mark.parametrize("size", SIZES)
def test_admin_pages_fit_and_pass_axe(
    open_as: Any, axe: str, ids: dict[str, int], demo_app: tuple[Flask, str], size: str
) -> None:
    _, base = demo_app
    page = open_as(demo.ADMIN_EMAIL, size)
    for path in _admin_pages(ids):
        response = page.goto(f"{base}{path}")
        assert response.status == 200, path
        _shell(page, size, ("Dashboard", "Admin", "Account"))
        _fits(page)
        _clean(page, axe, f"{path} at {size}")


@pytest.mark.parametrize("size", SIZES)
def test_leader_sees_dashboard_and_account_but_no_admin(
    open_as: Any, axe: str, demo_app: tuple[Flask, str], size: str
) -> None:
    _, base = demo_app
    page = open_as(LEADER, size)
    _shell(page, size, ("Dashboard", "Account"))
    assert page.locator("nav.pulse-navbar").get_by_role("link", name="Admin").count() == 0
    page.goto(f"{base}/account")
    _shell(page, size, ("Dashboard", "Account"))
    _fits(page)
    _clean(page, axe, f"/account as a leader at {size}")


def test_tree_order_one_picker_and_own_team_first(
    open_as: Any, demo_app: tuple[Flask, str]
) -> None:
    """The heatmap reads as the tree from the leader's own scope down; one cycle picker serves
    every tab; the team picker starts on the leader's own team, the cycle on the latest
    closed one."""
    app, _ = demo_app
    page = open_as(LEADER, "desktop")
    rows = [t.strip() for t in page.locator("#overview-heatmap .annotation").all_text_contents()]
    assert rows[0] == "Engineering"
    assert rows.index("Data") < rows.index("Mobile") < rows.index("Payments")
    assert not {"Operations", "Customer Support"} & set(rows)
    assert page.locator("select#cycle-select").count() == 1
    # No tab has a cycle or team picker of its own.
    assert (
        page.locator(".tab-content select[id*=cycle], .tab-content select[id*=team]").count() == 0
    )
    assert page.locator("#team-select option:checked").inner_text().strip() == (
        "Engineering (department)"
    )
    with app.app_context(), app.extensions["pulse.db"][1]() as session:
        latest = session.scalars(
            select(Cycle).where(Cycle.status == "closed").order_by(Cycle.opens_at.desc())
        ).first()
        assert latest is not None
    assert page.locator("#cycle-select").input_value() == str(latest.id)
    # The admin starts on the organisation.
    admin = open_as(demo.ADMIN_EMAIL, "desktop")
    first = admin.locator("#team-select option:checked").inner_text()
    assert "(organisation)" in first


def test_graph_keeps_its_size_after_switching_team_and_resizing(open_as: Any) -> None:
    page = open_as(LEADER, "desktop")
    page.select_option("#team-select", label="\u00a0\u00a0\u00a0Payments")
    page.wait_for_load_state("networkidle")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.click("#tabs .nav-link:has-text('Team')")
    page.locator("#team-trends .main-svg").first.wait_for()
    # Every callback answered (a slow machine may still be redrawing the chart).
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    box = page.locator("#team-trends .main-svg").first.bounding_box()
    assert box["width"] > 600 and box["height"] > 400
    # Plotly sizes each chart of the tab as it redraws it: on a busy machine another chart can
    # be caught mid-redraw. Give the tab a bounded time to settle; a chart that stays
    # collapsed, or boxes that stay overlapping, still fail.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(f"({OVERLAPS})().length === 0", timeout=5000)
    assert page.evaluate(OVERLAPS) == []


def test_expired_session_goes_to_sign_in_and_back(
    open_as: Any, demo_app: tuple[Flask, str]
) -> None:
    _, base = demo_app
    page = open_as(LEADER, "desktop")
    page.click("#tabs .nav-link:has-text('Items')")
    page.locator("#items-graph .main-svg").first.wait_for()
    page.wait_for_load_state("networkidle")
    # The session ends (cookie gone, as after a timeout or a sign-out elsewhere)...
    page.context.clear_cookies()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # ...and the next thing the leader does sends them to sign in, remembering where they were.
    page.select_option("#team-select", label="\u00a0\u00a0\u00a0Payments")
    page.wait_for_url(f"{base}/sign-in?next=**")
    assert "tab%3Ditems" in page.url
    page.fill("input[name=email]", LEADER)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{base}/dashboard/?tab=items**")
    page.locator("#tabs .nav-link.active", has_text="Items").wait_for()
    assert "Payments" in page.locator("#team-select option:checked").inner_text()
    page.locator("#items-graph .main-svg").first.wait_for()
    assert not errors


def test_actions_have_owner_due_date_status_and_download(open_as: Any) -> None:
    page = open_as(DATA_LEAD, "phone")
    page.click("#tabs .nav-link:has-text('Actions & guide')")
    page.fill("#action-text", "Share one failed experiment and its lesson at each demo")
    page.fill("#action-owner", "Ana")
    page.fill("#action-due", "2027-01-15")
    page.click("#action-save")
    page.locator("#action-result", has_text="Action recorded").wait_for()
    tracker = page.locator("#action-tracker")
    tracker.locator("text=Ana").wait_for()
    assert "2027-01-15" in tracker.inner_text() and "Planned" in tracker.inner_text()
    page.select_option("#status-value", "done")
    page.click("#status-save")
    page.locator("#status-result", has_text="Status saved").wait_for()
    tracker.locator("td", has_text="Done").wait_for()
    _fits(page)
    assert page.evaluate(OVERLAPS) == []
    with page.expect_download() as download:
        page.click("#download-button")
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.splitlines()[0].split(",")[:7] == [
        "recorded",
        "theme",
        "action",
        "owner",
        "due",
        "status",
        "did_it_help",
    ]
    assert "Share one failed experiment" in content and "Ana,2027-01-15,Done" in content
