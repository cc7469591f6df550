"""The SCIM WSGI application mounted at /scim beside Flask, behind SCIM bearer tokens."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from scim2_models import (
    AuthenticationScheme,
    External,
    Reference,
    ScimProvider,
    UnauthorizedException,
)
from scim2_server.applications.wsgi import WSGIApplication
from scim2_server.requests import ScimRequest
from scim2_server.service import ScimService
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from pulse.db import transaction
from pulse.tokens.service import authenticate
from webapp.extensions import db
from webapp.scim.storage import DatabaseStorage

PREFIX = "/scim"
BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="Bearer token",
    description="A token of kind scim from `pulse tokens create --kind scim`.",
    spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
    primary=True,
)


class TokenApplication(WSGIApplication):
    """scim2-server's WSGI application, refusing requests without a live SCIM token."""

    def __init__(self, app: Flask) -> None:
        config = load_default_service_provider_config()
        config.authentication_schemes = [BEARER]
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(), load_default_resource_types().values(), config=config
        )
        factory = db.factory_for(app)
        super().__init__(
            DatabaseStorage(factory, provider),
            provider,
            ScimService(provider, secret=secrets.token_urlsafe(32)),
        )
        self.factory = factory

    def check_auth(self, request: ScimRequest) -> None:
        scheme, _, secret = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            raise UnauthorizedException
        with transaction(self.factory) as session:
            if authenticate(session, secret=secret.strip(), kind="scim") is None:
                raise UnauthorizedException


def mount_scim(app: Flask) -> None:
    """Serve SCIM at /scim/v2 from the same process and database as the web app."""
    scim: Any = TokenApplication(app)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {PREFIX: scim})  # type: ignore[method-assign]
