"""The answer page in a real Chromium on a phone-sized screen, driven with the keyboard."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from pulse.answers.models import Answer, Response
from tests.conftest import IN_CI, make_settings
from tests.support.browser import ARTIFACTS, chromium_browser
from tests.support.smtp import SMTPServer
from tests.webapp.test_survey_answer import opened_cycle, smtp_env
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser(IN_CI) as browser:
        yield browser


def _tab_to(page: Any, check: str, limit: int = 80) -> None:
    """Press Tab until `check` (a JS expression on the focused element `e`) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const e = document.activeElement; return {check}; }})()"):
            return
    raise AssertionError(f"Tab never reached an element where {check}")


def test_a_member_answers_from_the_email_button_on_a_phone_with_the_keyboard(
    chromium: Any,
    database_url: str,
    redis_server: EmbeddedRedis,
    smtp_server: SMTPServer,
    session: Session,
) -> None:
    env = smtp_env(database_url, redis_server.url, smtp_server.port)
    # As in production: CSRF protection on, a real server, a real browser.
    app = create_app(
        {"PULSE": make_settings(database_url, redis_server.url, **env), "RATELIMIT_ENABLED": False}
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    context = chromium.new_context(viewport=PHONE)
    try:
        _org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 5})
        html = smtp_server.mailbox.messages[0].get_body(("html",)).get_content()
        button = re.search(r'href="http://[^"/]+(/s/[^"?]+\?a=(\d+):5)"', html)
        assert button is not None
        anchor = int(button.group(2))
        other = next(ci.item_id for ci in cycle.items if ci.item_id != anchor)

        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}{button.group(1)}")
        # The email's button chose the anchor answer; nothing is recorded until submit.
        assert page.locator(f"#item-{anchor}-5").is_checked()
        assert session.scalars(select(Response)).first() is None
        # Comfortable on a 360 px phone: nothing wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width

        # Keyboard only: Tab into another question's radios, Space picks the focused one.
        _tab_to(page, f"e.name === 'item-{other}'")
        page.keyboard.press("Space")
        chosen = page.evaluate("document.activeElement.value")
        assert page.locator(f"#item-{other}-{chosen}").is_checked()
        _tab_to(page, "e.type === 'submit'")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "answer-phone.png"), full_page=True)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*saved=1$"))
        assert page.get_by_role("status").filter(has_text="answers are saved").count() == 1
        # The page keeps nothing in the browser.
        assert context.cookies() == []

        session.expire_all()
        response = session.scalars(select(Response)).one()
        rows = session.execute(
            select(Answer.item_id, Answer.value).where(Answer.response_id == response.id)
        )
        stored = {item_id: value for item_id, value in rows}
        # Every question is optional: the ones left alone are stored as skipped.
        assert set(stored) == {ci.item_id for ci in cycle.items}
        assert {k: v for k, v in stored.items() if v is not None} == {anchor: 5, other: int(chosen)}
    finally:
        context.close()
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["pulse.db"][0].dispose()
