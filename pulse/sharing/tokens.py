"""Share link tokens: a keyed hash of a random salt, stored only as a plain hash.

The emails go out from a worker after the leader's request has ended, so the worker must be
able to make the link again; keeping the token in the database (or in a queued task's
arguments) would let whoever reads either open the report. Instead the token is
HMAC-SHA256(secret key, salt) with a random salt per share: the salt alone opens nothing, the
stored SHA-256 of the token checks a link, and only a holder of the secret key can make one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from pulse.delivery.tokens import looks_like_token, token_hash

__all__ = ["looks_like_token", "new_salt", "share_token", "token_hash"]

_DOMAIN = b"pulse.team-share:"


def new_salt() -> str:
    """A fresh random salt for one share (128 bits, hex)."""
    return secrets.token_hex(16)


def share_token(secret: str, salt: str) -> str:
    """The link token of the share with this salt: 43 URL-safe characters, 256 bits."""
    digest = hmac.new(secret.encode("utf-8"), _DOMAIN + salt.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
