"""Settings read from PULSE_* environment variables, validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

DEV_SECRET_KEY = "dev-only-change-me"
DEFAULT_DATABASE_URL = "sqlite:///var/pulse.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MAIL_BACKENDS = ("smtp", "outbox")


def load_env_file(path: str | Path = ".env") -> bool:
    """Read a `.env` file (the copy of .env.example the README suggests) into os.environ.

    Variables already in the environment win over the file, so a deployment's environment, a
    CI job or a one-off `PULSE_ENV=... pulse ...` is never overridden by a file left behind.
    The file is looked for in the working directory only, not in its parents. True when read.
    """
    return load_dotenv(Path(path), override=False)


class ConfigError(ValueError):
    """The environment describes a configuration Team Pulse refuses to run with."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything Team Pulse needs from its environment."""

    env: str
    database_url: str
    redis_url: str
    secret_key: str
    base_url: str
    mail_backend: str
    mail_from: str
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_tls: str
    threshold: int
    dev_outbox: bool
    db_pool_size: int = 10
    # Defaults for the other kinds of confidentiality threshold; admins can change all three.
    threshold_participation: int = 5
    threshold_comments: int = 7
    # text (readable, the default) or json (one object per line, for a log shipper)
    log_format: str = "text"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings; raise ConfigError with a readable reason."""
        env = os.environ if env is None else env
        threshold = _int(env, "PULSE_THRESHOLD", 5)
        settings = cls(
            env=env.get("PULSE_ENV", "development").strip() or "development",
            database_url=env.get("PULSE_DATABASE_URL", "") or DEFAULT_DATABASE_URL,
            redis_url=env.get("PULSE_REDIS_URL", "") or DEFAULT_REDIS_URL,
            secret_key=env.get("PULSE_SECRET_KEY", "") or DEV_SECRET_KEY,
            base_url=(env.get("PULSE_BASE_URL", "") or "http://127.0.0.1:5000").rstrip("/"),
            mail_backend=(env.get("PULSE_MAIL_BACKEND", "") or "outbox").strip().lower(),
            mail_from=env.get("PULSE_MAIL_FROM", "") or "Team Pulse <pulse@localhost>",
            smtp_host=env.get("PULSE_SMTP_HOST", "") or "127.0.0.1",
            smtp_port=_int(env, "PULSE_SMTP_PORT", 25),
            smtp_user=env.get("PULSE_SMTP_USER", ""),
            smtp_password=env.get("PULSE_SMTP_PASSWORD", ""),
            smtp_tls=(env.get("PULSE_SMTP_TLS", "") or "starttls").strip().lower(),
            threshold=threshold,
            dev_outbox=_flag(env.get("PULSE_DEV_OUTBOX"), default=True),
            db_pool_size=_int(env, "PULSE_DB_POOL_SIZE", 10),
            threshold_participation=_int(env, "PULSE_THRESHOLD_PARTICIPATION", 5),
            # Unset, the comments threshold follows a raised PULSE_THRESHOLD rather than
            # refusing to start: comments are never shown from fewer answers than scores.
            threshold_comments=_int(env, "PULSE_THRESHOLD_COMMENTS", max(7, threshold)),
            log_format=(env.get("PULSE_LOG_FORMAT", "") or "text").strip().lower(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in {"development", "test", "production"}:
            raise ConfigError(
                f"PULSE_ENV must be development, test or production, got {self.env!r}"
            )
        if self.production and self.secret_key == DEV_SECRET_KEY:
            raise ConfigError(
                "PULSE_SECRET_KEY is missing or still the development default; "
                "production mode needs a long random secret (python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.production and len(self.secret_key) < 32:
            raise ConfigError("PULSE_SECRET_KEY must be at least 32 characters in production")
        if self.mail_backend not in MAIL_BACKENDS:
            raise ConfigError(
                f"PULSE_MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}, "
                f"got {self.mail_backend!r}"
            )
        if self.production and self.mail_backend == "outbox":
            raise ConfigError("the outbox mail backend is for development only; use smtp")
        if self.smtp_tls not in {"starttls", "tls", "false"}:
            raise ConfigError(
                f"PULSE_SMTP_TLS must be starttls, tls or false, got {self.smtp_tls!r}"
            )
        if not 3 <= self.threshold <= 10:
            raise ConfigError(f"PULSE_THRESHOLD must be between 3 and 10, got {self.threshold}")
        if not 3 <= self.threshold_participation <= 10:
            raise ConfigError(
                "PULSE_THRESHOLD_PARTICIPATION must be between 3 and 10, "
                f"got {self.threshold_participation}"
            )
        if not 3 <= self.threshold_comments <= 10:
            raise ConfigError(
                f"PULSE_THRESHOLD_COMMENTS must be between 3 and 10, got {self.threshold_comments}"
            )
        if self.threshold_comments < self.threshold:
            raise ConfigError(
                f"PULSE_THRESHOLD_COMMENTS ({self.threshold_comments}) must be at least "
                f"PULSE_THRESHOLD ({self.threshold}): comments are never shown from fewer "
                "answers than scores"
            )
        if self.log_format not in {"text", "json"}:
            raise ConfigError(f"PULSE_LOG_FORMAT must be text or json, got {self.log_format!r}")
        if not 1 <= self.db_pool_size <= 100:
            raise ConfigError(
                f"PULSE_DB_POOL_SIZE must be between 1 and 100, got {self.db_pool_size}"
            )

    @property
    def outbox_browsable(self) -> bool:
        return self.dev_outbox and not self.production and self.mail_backend == "outbox"


def broker_url(redis_url: str) -> str:
    """The Celery (kombu) spelling of a Redis URL; kombu names unix sockets differently."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def limiter_storage_url(redis_url: str) -> str:
    """The Flask-Limiter (limits) spelling of a Redis URL."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url
