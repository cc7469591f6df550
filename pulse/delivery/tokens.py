"""Answer-link tokens: random, stored only as a hash; revisions found through a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# 32 random bytes = 256 bits, well above the 128 the threat model needs; 43 URL-safe characters.
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """A fresh, unguessable link token (never stored, only its hash is)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_token(token: str) -> bool:
    """Whether `token` has the shape of a link token (cheap check before any query)."""
    return bool(TOKEN_PATTERN.match(token))


def token_hash(token: str) -> str:
    """The SHA-256 of a token, as stored on the invitation."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def revision_key(secret: str, token: str) -> str:
    """A keyed hash of the token stored on the response, so only the link can find it again.

    It differs from `token_hash` (keyed, and domain-separated), so the two columns never match
    and the database alone cannot join a response to its invitation.
    """
    message = b"pulse.response-revision:" + token.encode("ascii")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
