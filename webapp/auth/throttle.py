"""Per-account sign-in throttling on top of the per-address limit (ASVS 2.2.1).

The per-address limit alone let 270 wrong passwords for one account through from 30
addresses. So failed sign-ins are also counted per account (the email typed, known or not,
so the limit tells nothing about which accounts exist), in steps that grow: a few a minute,
fewer per hour, per day. An attacker gets at most `ACCOUNT_LIMITS` guesses, whatever the
number of addresses.

A per-account limit is also a way to lock someone out: keep failing on a leader's email and
the leader cannot get in. So a browser that has signed in to an account before carries a
signed device cookie, and its attempts for that account are counted in a bucket of their
own (OWASP's "device cookies"): the attacker's failures never reach it, and a stolen cookie
still gets no more than the same few tries. Only a leader on a device never used before
waits the attack out.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import Flask, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

DEVICE_COOKIE = "pulse_device"
# Only failures count; these are the steps of the backoff: 5 a minute, 20 an hour, 50 a day.
ACCOUNT_LIMITS = "5 per minute; 20 per hour; 50 per day"
DEVICE_COOKIE_DAYS = 180


def _account_digest(email: str) -> str:
    # The cookie and the limiter's keys carry a digest, never the address itself.
    normalised = email.strip().lower()
    return hashlib.sha256(normalised.encode()).hexdigest()[:32]


def _serializer(app: Flask) -> URLSafeSerializer:
    return URLSafeSerializer(app.config["SECRET_KEY"], salt="pulse.sign-in-device")


def account_key() -> str:
    """The limiter's key for a sign-in attempt: the account, or the account on this device."""
    account = _account_digest(request.form.get("email", ""))
    device = _device_for(account)
    return f"sign-in:account:{account}" + (f":device:{device}" if device else "")


def _device_for(account: str) -> str | None:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(current_app).loads(raw)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != account:
        return None
    device = data.get("d")
    return device if isinstance(device, str) else None


def failed_sign_in(response: Response) -> bool:
    """Only wrong credentials count against the account, not a successful sign-in."""
    return response.status_code == 401


def remember_device(response: Response, *, email: str) -> None:
    """After a successful sign-in: this browser has its own bucket for this account."""
    value = _serializer(current_app).dumps(
        {"a": _account_digest(email), "d": secrets.token_urlsafe(16)}
    )
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        httponly=True,
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        samesite="Lax",
        path="/sign-in",
    )
