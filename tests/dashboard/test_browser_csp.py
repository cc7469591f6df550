"""The dashboard works in a real Chromium under the Content-Security-Policy: no violation."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from pulse import demo

pytestmark = pytest.mark.browser

LEADER = "leader@northwind.example.org"


def test_the_dashboard_draws_and_answers_clicks_with_no_csp_violation(
    chromium: Any, demo_app: tuple[Flask, str]
) -> None:
    _, base = demo_app
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # Also the events the page itself sees, in case a violation logs nothing.
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    first = page.goto(f"{base}/sign-in")
    assert first is not None
    policy = first.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy.split(";")[1]
    page.fill("input[name=email]", LEADER)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{base}/dashboard/**")
    heatmap = page.locator("#overview-heatmap")
    # Drawn by Plotly after a callback: the renderer, the callbacks and Plotly all ran.
    heatmap.locator(".annotation", has_text="Platform").first.wait_for()
    page.wait_for_load_state("networkidle")
    seen = page.evaluate("window.__csp")
    context.close()
    assert violations == [] and seen == []
