"""A gunicorn logger that writes the answer route without its token (`/s/[token]`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from pulse.delivery.tokens import looks_like_token
from webapp import log_redaction

_ANSWER_PATH = re.compile(r"^/+s(?:hared)?/+([^/]+)")


class TokenRedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's Logger, with every access-log atom and error-log record redacted.

    Every string atom is cleaned, not only %(r)s, %(U)s, %(q)s and %(f)s: a custom
    access_log_format may also name headers (%({referer}i)s, %({location}o)s) or environ
    variables (%({raw_uri}e)s) that hold the link.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        log_redaction.install(self.error_log, self.access_log)

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # The token as routed (gunicorn has already unquoted PATH_INFO), wherever it appears.
        routed = _ANSWER_PATH.match(environ.get("PATH_INFO") or "")
        token = routed.group(1) if routed and looks_like_token(routed.group(1)) else None
        for key, value in atoms.items():
            if isinstance(value, str):
                if token:
                    value = value.replace(token, log_redaction.REDACTED_TOKEN)
                atoms[key] = log_redaction.redact(value)
        return atoms
