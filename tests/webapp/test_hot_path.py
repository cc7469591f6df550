"""The request path's speed tricks (webapp/hot_path.py) change no response and no limit."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request, session
from flask.globals import request_ctx
from flask.sessions import SecureCookieSession
from flask.testing import FlaskClient

from pulse.people.models import Person
from tests.conftest import PASSWORD

LINK = "/s/" + "A" * 43  # the shape of a link token; no invitation has it


def test_the_answer_page_skips_the_limiter_and_sign_in_is_still_limited(
    limited: Flask, make_user: Callable[..., Person]
) -> None:
    make_user("ada@example.org", role="admin")
    touched: dict[str, bool] = {}

    @limited.teardown_request
    def _limiter_touched(_: BaseException | None) -> None:
        # The limiter keeps its per-request state on the request context once it runs.
        touched[request.path] = hasattr(
            request_ctx._get_current_object(), "_limiter_request_context"
        )

    client = limited.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    # A whole company answers from one address: never limited, no rate-limit headers.
    for _ in range(15):
        reply = client.post(LINK, data={"item-1": "4"})
        assert reply.status_code == 404
        assert not any(name.startswith("X-RateLimit") for name, _ in reply.headers.items())
    # Sign-in, from the same address, keeps its per-address limit and its headers.
    codes = []
    for i in range(12):
        reply = client.post("/sign-in", data={"email": "ada@example.org", "password": f"x{i}"})
        codes.append(reply.status_code)
        assert "X-RateLimit-Limit" in reply.headers
    assert 429 in codes
    # Refused for its own reasons, the answer page is still not limited.
    assert client.post(LINK, data={"item-1": "4"}).status_code == 404
    signing_in = {"email": "ada@example.org", "password": PASSWORD}
    assert client.post("/sign-in", data=signing_in).status_code == 429
    assert touched == {LINK: False, "/sign-in": True}


def test_a_request_without_a_session_cookie_gets_a_new_empty_session(app: Flask) -> None:
    with app.test_request_context("/"):
        opened = app.session_interface.open_session(app, request)
        assert isinstance(opened, SecureCookieSession)
        assert not opened and not opened.modified


def test_a_session_written_is_read_back_and_a_forged_one_is_not(app: Flask) -> None:
    with app.test_request_context("/"):
        session["who"] = "ada"
        response = app.response_class()
        app.session_interface.save_session(app, session, response)  # type: ignore[arg-type]
    cookie = response.headers["Set-Cookie"].split(";", 1)[0]
    with app.test_request_context("/", headers={"Cookie": cookie}):
        assert app.session_interface.open_session(app, request) == {"who": "ada"}
    name, _, value = cookie.partition("=")
    forged = f"{name}={value[:-2]}xx"
    with app.test_request_context("/", headers={"Cookie": forged}):
        assert app.session_interface.open_session(app, request) == {}


def test_the_answer_page_sets_no_cookie_and_keeps_its_own_referrer_policy(
    client: FlaskClient,
) -> None:
    reply = client.post(LINK, data={"item-1": "4"})
    assert "Set-Cookie" not in reply.headers
    assert reply.headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert reply.headers.getlist("X-Frame-Options") == ["DENY"]
    assert len(reply.headers.getlist("Content-Security-Policy")) == 1


def test_a_header_a_view_set_in_another_case_is_not_doubled(app: Flask) -> None:
    @app.get("/bench-own-headers")
    def own_headers() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"x-frame-options": "SAMEORIGIN"}

    reply = app.test_client().get("/bench-own-headers")
    assert reply.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
