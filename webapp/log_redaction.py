"""Answer-link tokens out of log lines: `/s/<token>` is written as `/s/[token]`.

The token in an emailed link is the respondent's only credential, so no log may keep it: not
the web server's access log (request line, path, query, Referer), nor the app's own messages.
"""

from __future__ import annotations

import logging
import re

REDACTED_TOKEN = "[token]"
# The answer route `/s/<token>`, also percent-encoded (`%2Fs%2F…` in a query, `/%73/…` in a
# path) and with doubled slashes. The segment runs to the next character no token holds that
# ends a URL or a log field; `[token]` is not matched again, so redacting twice is harmless.
# `/shared/<token>` (a team's shared report) and `/digest/unsubscribe/<token>` (a leader's
# one-click opt-out) are redacted the same way.
ANSWER_LINK = re.compile(
    r"((?:/|%2F)(?:(?:s|%73)(?:hared)?|digest(?:/|%2F)+unsubscribe)(?:/|%2F)+)"
    r"[^/?#&\s\"'|<>\[\]]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with the token of every answer link in it replaced by `[token]`."""
    return ANSWER_LINK.sub(rf"\g<1>{REDACTED_TOKEN}", text)


class RedactTokens(logging.Filter):
    """A logging filter that rewrites each record's message without answer-link tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install(*loggers: logging.Logger) -> None:
    """Redact on these loggers (records logged on them) and on each of their handlers."""
    for logger in loggers:
        for target in (logger, *logger.handlers):
            if not any(isinstance(f, RedactTokens) for f in target.filters):
                target.addFilter(RedactTokens())
