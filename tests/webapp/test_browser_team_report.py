"""The team report and the shared page in a real Chromium at a laptop's and a phone's size:
no sideways scroll, axe-core with no critical or serious violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.people.models import Person
from pulse.sharing.service import share_report
from pulse.sharing.tokens import share_token
from tests.conftest import IN_CI, PASSWORD
from tests.support.axe import axe_source, axe_violations
from tests.support.browser import ARTIFACTS, chromium_browser
from tests.support.live_server import live_server
from tests.webapp.report_world import K, add_actions, build_world

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def _fits_and_is_clean(page: Any, axe: str, where: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{where} scrolls sideways ({width} px)"
    assert axe_violations(page, axe) == [], where


def test_report_and_shared_page_fit_and_pass_axe(
    app: Flask, session: Session, settings: Settings, make_user: Callable[..., Person]
) -> None:
    axe = axe_source(IN_CI)
    world = build_world(session, target_size=K)
    leader = make_user("lead@example.org", role="leader", team="D1")
    add_actions(session, world, leader)
    share, _ = share_report(
        session,
        team_id=world.target.id,
        cycle_id=world.cycle.id,
        actor=leader,
        secret=settings.secret_key,
        threshold=K,
    )
    session.commit()
    token = share_token(settings.secret_key, share.token_salt)
    with chromium_browser(IN_CI) as browser, live_server(app) as base:
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            try:
                page = context.new_page()
                page.goto(f"{base}/sign-in")
                page.fill("input[name=email]", "lead@example.org")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.goto(f"{base}{world.url()}")
                page.get_by_role("heading", name="Target").wait_for()
                assert page.get_by_role("button", name="Stop sharing").is_visible()
                _fits_and_is_clean(page, axe, f"report at {size}")
                page.screenshot(path=str(ARTIFACTS / f"team-report-{size}.png"), full_page=True)
                shared = context.new_page()
                shared.goto(f"{base}/shared/{token}")
                shared.get_by_role("heading", name="Target").wait_for()
                _fits_and_is_clean(shared, axe, f"shared page at {size}")
                shared.screenshot(path=str(ARTIFACTS / f"team-shared-{size}.png"), full_page=True)
            finally:
                context.close()
