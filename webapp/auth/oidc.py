"""Single sign-on by OpenID Connect (Authlib), beside passwords.

Configured by PULSE_OIDC_ISSUER (discovery at its /.well-known/openid-configuration),
PULSE_OIDC_CLIENT_ID and PULSE_OIDC_CLIENT_SECRET. The authorization code flow uses PKCE
(S256); Authlib keeps state and nonce in the session and checks both, and verifies the ID
token's signature, issuer, audience and expiry against the provider's published keys. A
person is matched by the email the provider says it verified: SSO signs in the same
admins and leaders a password does, and creates nobody.
"""

from __future__ import annotations

import os
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, flash, redirect, url_for
from flask_login import login_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from pulse.audit.service import record
from pulse.db import utcnow
from pulse.people.models import Person
from webapp.auth.user import SignedInUser
from webapp.extensions import db

blueprint = Blueprint("oidc", __name__)
SETTINGS = ("PULSE_OIDC_ISSUER", "PULSE_OIDC_CLIENT_ID", "PULSE_OIDC_CLIENT_SECRET")
REFUSED = "Single sign-on worked, but no administrator or leader here has that verified email."


def init_oidc(app: Flask) -> None:
    """Register the provider when PULSE_OIDC_* are set (app config first, then environment)."""
    for name in SETTINGS:
        if not app.config.get(name) and os.environ.get(name):
            app.config[name] = os.environ[name]
    app.register_blueprint(blueprint)
    if not all(app.config.get(name) for name in SETTINGS):
        return
    # One registry per app: tests build apps for different providers in one process.
    oauth = app.extensions["pulse_oauth"] = OAuth(app)
    issuer = str(app.config["PULSE_OIDC_ISSUER"]).rstrip("/")
    oauth.register(
        "pulse_sso",
        client_id=app.config["PULSE_OIDC_CLIENT_ID"],
        client_secret=app.config["PULSE_OIDC_CLIENT_SECRET"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )


def sso_enabled() -> bool:
    """Whether a provider is configured (the sign-in page then offers it)."""
    return "pulse_oauth" in current_app.extensions


def _client() -> Any:
    if not sso_enabled():
        abort(404)
    return current_app.extensions["pulse_oauth"].create_client("pulse_sso")


@blueprint.route("/sign-in/sso")
def start() -> Response:
    """Send the browser to the provider (Authlib adds state, nonce and the PKCE challenge)."""
    redirect_uri = url_for("oidc.callback", _external=True)
    response: Response = _client().authorize_redirect(redirect_uri)
    return response


@blueprint.route("/sign-in/sso/callback")
def callback() -> Response:
    """Exchange the code, verify the ID token, and sign in the person with that email."""
    client = _client()
    try:
        token = client.authorize_access_token()
    except OAuthError as exc:
        current_app.logger.info("SSO refused: %s", exc.error)
        flash("Single sign-on did not complete. Please try again.", "danger")
        return redirect(url_for("auth.sign_in"))
    claims = dict(token.get("userinfo") or {})
    if "email" not in claims:
        # Providers that conform ID tokens to OIDC Core (oidc-provider does) give scope
        # claims only at the userinfo endpoint; its subject must be the ID token's.
        extra = client.userinfo(token=token)
        if extra.get("sub") == claims.get("sub"):
            claims.update(extra)
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is not True:
        flash("Your identity provider did not confirm a verified email.", "danger")
        return redirect(url_for("auth.sign_in"))
    person = db.session.scalar(select(Person).where(func.lower(Person.email) == email))
    if person is None or not person.active or not (person.is_admin or person.led_team_ids):
        flash(REFUSED, "danger")
        return redirect(url_for("auth.sign_in"))
    person.last_sign_in_at = utcnow()
    record(db.session, actor=person, action="sso.sign_in", target=person.email)
    db.session.commit()
    login_user(SignedInUser.of(person))
    return redirect(url_for("home.index"))
