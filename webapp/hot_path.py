"""The request path's speed tricks, in one place: framework work skipped where it does nothing.

Everyone answers in the same hour, so the answer page's POST is the hottest request of the
app, and each of its submits also pays for every hook the app registers. Two pieces of work
that Flask and Flask-Limiter do on every request are skipped here where they provably do
nothing, without changing what any response says or what any limit counts. Measured in one
process on bench/bench_delivery.py's answer POST (each hook called in a loop in its request
context, before → after, on a busy 2-core machine):

- Flask-Limiter's three hooks (limits resolved, headers injected, context reset) for a request
  its own filter exempts: 0.05–0.1 ms → 0.005 ms. See `init_limiter`.
- The signing serializer Flask builds to open a session cookie that was never sent:
  0.025–0.03 ms → 0.005 ms. See `CookieSessions`.

With the lighter security-header, metrics and request-id hooks (in their own modules), the
answer POST's cost outside submit_response fell from 0.84–1.0 ms to 0.65–0.71 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, building the signer only when there is a cookie to
    read (Flask builds it first, even for a request without one, which is every answer
    submit). A request without the cookie gets the same new, empty session as before; saving
    one builds its signer as Flask always did."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_limiter(app: Flask, limiter: Limiter, *, exempt: Callable[[], bool]) -> None:
    """`limiter.init_app(app)`, with the request hooks it registers (its check before the
    view, its header injection after it, its context reset at teardown) skipped for the
    requests where `exempt()` holds, which must be exactly those its request filter exempts.

    For such a request the limiter resolves no limit and counts nothing: its hooks only
    find that out (0.05–0.1 ms of Flask-Limiter's code on every answer submit), then add
    no header. Every other request runs them unchanged. The hooks are found by what
    init_app registered, not by Flask-Limiter's private names; if an enabled limiter
    registered other than its three hooks, this fails, so a change in how Flask-Limiter
    installs itself cannot silently drop a limit check nor this saving.
    """
    registries = (
        (app.before_request_funcs.setdefault(None, []), False),
        (app.after_request_funcs.setdefault(None, []), True),
        (app.teardown_request_funcs.setdefault(None, []), False),
    )
    known = [list(hooks) for hooks, _ in registries]
    limiter.init_app(app)
    added = 0
    for (hooks, passes_response), old in zip(registries, known, strict=True):
        for index, hook in enumerate(hooks):
            if not any(hook is seen for seen in old):
                hooks[index] = _unless(exempt, hook, passes_response=passes_response)
                added += 1
    if added != (3 if limiter.enabled else 0):
        raise RuntimeError(f"expected the rate limiter's 3 request hooks, found {added}")


def _unless(exempt: Callable[[], bool], hook: Any, *, passes_response: bool) -> Any:
    """`hook`, not run when `exempt()`: an after-request hook hands the response on."""

    @wraps(hook)
    def guarded(*args: Any) -> Any:
        if exempt():
            return args[0] if passes_response else None
        return hook(*args)

    return guarded
