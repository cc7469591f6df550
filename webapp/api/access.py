"""Who is calling the API: a bearer token of kind `api`, and the teams its role may see."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from pulse.organisation.service import threshold
from pulse.teams.service import visible_team_ids
from pulse.tokens.models import IntegrationToken
from pulse.tokens.service import authenticate, token_viewer
from webapp.extensions import db

# Largest id the API accepts: beyond it no row exists, and SQLite cannot bind it.
MAX_ID = 2**31 - 1


class ApiError(HTTPException):
    """An API refusal answered as JSON, with the reason in `message`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(description=message)
        self.code = code


@dataclass(frozen=True)
class ApiCaller:
    """The token behind this request, the teams it may see and the threshold k in force."""

    token: IntegrationToken
    team_ids: frozenset[int]
    k: int


def bearer_secret() -> str | None:
    """The bearer token in the Authorization header, if the header has that form."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def rate_limit_key() -> str:
    """Rate limits count per token (hashed: keys land in Redis), else per client address."""
    secret = bearer_secret()
    if secret:
        return "api-token:" + hashlib.sha256(secret.encode()).hexdigest()[:32]
    return "api-ip:" + (request.remote_addr or "unknown")


def rate_limit() -> str:
    """The API's limit per token, settable for tests and busy integrations."""
    limit: str = current_app.config.get("PULSE_API_RATE_LIMIT", "300 per minute")
    return limit


def current_caller() -> ApiCaller:
    """The authenticated caller of this request; 401 without a live API token."""
    if "api_caller" in g:
        caller: ApiCaller = g.api_caller
        return caller
    token = authenticate(db.session, secret=bearer_secret(), kind="api")
    if token is None:
        raise ApiError(401, "Send a live API token as 'Authorization: Bearer <token>'.")
    db.session.commit()  # keeps last_used_at
    viewer = token_viewer(token)
    settings = current_app.config["PULSE"]
    g.api_caller = ApiCaller(
        token=token,
        team_ids=frozenset(visible_team_ids(db.session, person=viewer)),
        k=threshold(db.session, default=settings.threshold),
    )
    return current_caller()


def id_argument(name: str, *, required: bool = False) -> int | None:
    """A positive integer query argument; 400 when it is malformed or missing but required."""
    values = request.args.getlist(name)
    if not values:
        if required:
            raise ApiError(400, f"The query argument {name!r} is required.")
        return None
    if len(values) > 1:
        raise ApiError(400, f"Give {name!r} once.")
    value = values[0].strip()
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise ApiError(400, f"{name!r} must be a whole number from 1 to {MAX_ID}.")
    return int(value)
