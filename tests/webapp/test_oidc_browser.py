"""OIDC sign-in clicked through in Chromium against oidc-provider, a certified OpenID provider
run locally with Debian's node (tests/oidc: `npm ci --prefix tests/oidc`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.audit.models import AuditEvent
from pulse.config import Settings
from tests.conftest import IN_CI, sign_in
from tests.support.browser import chromium_browser
from tests.support.live_server import live_server
from webapp import create_app

pytestmark = pytest.mark.browser
OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID, CLIENT_SECRET = "team-pulse", "a-client-secret-for-tests-only"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sso(settings: Settings) -> Iterator[tuple[Flask, str]]:
    """The app configured for a provider on 127.0.0.1, served live, and the provider started."""
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        if IN_CI:
            pytest.fail("CI needs node and `npm ci --prefix tests/oidc`")
        pytest.skip("oidc-provider is not installed (npm ci --prefix tests/oidc)")
    port = free_port()
    app = create_app(
        {
            "PULSE": settings,
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "PULSE_OIDC_ISSUER": f"http://127.0.0.1:{port}",
            "PULSE_OIDC_CLIENT_ID": CLIENT_ID,
            "PULSE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
    with live_server(app) as base:
        provider = subprocess.Popen(
            [
                node,
                "provider.mjs",
                str(port),
                f"{base}/sign-in/sso/callback",
                CLIENT_ID,
                CLIENT_SECRET,
            ],
            cwd=OIDC_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=2
                    )
                    break
                except OSError:
                    if time.monotonic() > deadline or provider.poll() is not None:
                        raise
                    time.sleep(0.2)
            yield app, base
        finally:
            provider.terminate()
            provider.wait(timeout=10)
    app.extensions["pulse.db"][0].dispose()


def _sign_in_by_sso(browser: object, base: str, login: str) -> object:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{base}/sign-in")
    page.get_by_role("link", name="Sign in with your company account").click()
    # oidc-provider's own sign-in page, then its consent page.
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("anything")
    page.locator("button[type=submit]").click()
    page.get_by_role("button", name="Continue").click()
    return page


def test_a_leader_signs_in_through_the_provider(
    sso: tuple[Flask, str], session: Session, make_user: object
) -> None:
    app, base = sso
    make_user("lead@example.org", role="admin")  # type: ignore[operator]
    # The admin requires SSO: from then on their password no longer signs them in.
    admin = app.test_client()
    assert sign_in(admin, "lead@example.org").status_code == 302
    assert admin.post("/admin/sso", data={"required": "1"}).status_code == 302
    refused = sign_in(app.test_client(), "lead@example.org")
    assert refused.status_code == 403
    assert "requires single sign-on" in refused.get_data(as_text=True)
    # A callback whose state this browser never sent is refused before any token exchange.
    forged = app.test_client().get("/sign-in/sso/callback?code=stolen&state=forged")
    assert forged.status_code == 302 and forged.headers["Location"].endswith("/sign-in")
    with chromium_browser(IN_CI) as browser:
        page = _sign_in_by_sso(browser, base, "lead@example.org")
        page.wait_for_url(f"{base}/dashboard/**", timeout=30_000)  # type: ignore[attr-defined]
        # Someone the provider vouches for but who holds no role here is turned away.
        other = _sign_in_by_sso(browser.new_context(), base, "stranger@example.org")
        other.wait_for_url(f"{base}/sign-in", timeout=30_000)  # type: ignore[attr-defined]
        assert "no administrator or leader here" in other.content()  # type: ignore[attr-defined]
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.action == "sso.sign_in"))
    assert list(events) == ["sso.sign_in"]
