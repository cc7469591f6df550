"""Configuration from PULSE_* variables, and refusing unsafe production settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.config import (
    DEFAULT_DATABASE_URL,
    DEV_SECRET_KEY,
    ConfigError,
    Settings,
    broker_url,
    limiter_storage_url,
)


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///var/pulse.db"
    assert settings.mail_backend == "outbox"
    assert settings.threshold == 5
    assert (settings.threshold_participation, settings.threshold_comments) == (5, 7)
    assert not settings.production


@pytest.mark.parametrize("secret", [None, "", DEV_SECRET_KEY])
def test_production_refuses_a_missing_or_default_secret(secret: str | None) -> None:
    env = {"PULSE_ENV": "production", "PULSE_MAIL_BACKEND": "smtp"}
    if secret is not None:
        env["PULSE_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="PULSE_SECRET_KEY"):
        Settings.from_env(env)


def test_production_accepts_a_real_secret_and_refuses_the_outbox() -> None:
    env = {"PULSE_ENV": "production", "PULSE_SECRET_KEY": "x" * 48, "PULSE_MAIL_BACKEND": "smtp"}
    assert Settings.from_env(env).production
    with pytest.raises(ConfigError, match="outbox"):
        Settings.from_env({**env, "PULSE_MAIL_BACKEND": "outbox"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PULSE_THRESHOLD", "2", "between 3 and 10"),
        ("PULSE_THRESHOLD", "11", "between 3 and 10"),
        ("PULSE_THRESHOLD", "five", "whole number"),
        ("PULSE_THRESHOLD_PARTICIPATION", "2", "PULSE_THRESHOLD_PARTICIPATION .*between 3 and 10"),
        ("PULSE_THRESHOLD_PARTICIPATION", "11", "PULSE_THRESHOLD_PARTICIPATION .*between 3 and 10"),
        ("PULSE_THRESHOLD_PARTICIPATION", "many", "whole number"),
        ("PULSE_THRESHOLD_COMMENTS", "2", "PULSE_THRESHOLD_COMMENTS .*between 3 and 10"),
        ("PULSE_THRESHOLD_COMMENTS", "11", "PULSE_THRESHOLD_COMMENTS .*between 3 and 10"),
        ("PULSE_THRESHOLD_COMMENTS", "4", "at least PULSE_THRESHOLD"),
        ("PULSE_MAIL_BACKEND", "pigeon", "PULSE_MAIL_BACKEND"),
        ("PULSE_SMTP_TLS", "maybe", "PULSE_SMTP_TLS"),
        ("PULSE_SMTP_PORT", "x", "PULSE_SMTP_PORT"),
        ("PULSE_ENV", "staging", "PULSE_ENV"),
        ("PULSE_DB_POOL_SIZE", "0", "PULSE_DB_POOL_SIZE"),
        ("PULSE_DB_POOL_SIZE", "many", "PULSE_DB_POOL_SIZE"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


def test_threshold_bounds_are_inclusive() -> None:
    assert Settings.from_env({"PULSE_THRESHOLD": "3"}).threshold == 3
    assert Settings.from_env({"PULSE_THRESHOLD": "10"}).threshold == 10
    for name in ("PULSE_THRESHOLD_PARTICIPATION", "PULSE_THRESHOLD_COMMENTS"):
        low = Settings.from_env({"PULSE_THRESHOLD": "3", name: "3"})
        high = Settings.from_env({name: "10"})
        attribute = name.removeprefix("PULSE_").lower()
        assert (getattr(low, attribute), getattr(high, attribute)) == (3, 10)


def test_an_unset_comments_threshold_follows_a_higher_scores_threshold() -> None:
    assert Settings.from_env({"PULSE_THRESHOLD": "9"}).threshold_comments == 9
    assert Settings.from_env({"PULSE_THRESHOLD": "4"}).threshold_comments == 7
    with pytest.raises(ConfigError, match="PULSE_THRESHOLD_COMMENTS"):
        Settings.from_env({"PULSE_THRESHOLD": "9", "PULSE_THRESHOLD_COMMENTS": "8"})


def test_unix_socket_urls_are_spelled_for_each_client() -> None:
    assert broker_url("unix:///srv/redis.sock") == "redis+socket:///srv/redis.sock"
    assert limiter_storage_url("unix:///srv/redis.sock") == "redis+unix:///srv/redis.sock"
    assert broker_url("redis://h:6379/0") == "redis://h:6379/0"


def test_every_setting_is_listed_in_env_example() -> None:
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for name in (
        "PULSE_ENV",
        "PULSE_DATABASE_URL",
        "PULSE_REDIS_URL",
        "PULSE_SECRET_KEY",
        "PULSE_BASE_URL",
        "PULSE_MAIL_BACKEND",
        "PULSE_MAIL_FROM",
        "PULSE_SMTP_HOST",
        "PULSE_SMTP_PORT",
        "PULSE_SMTP_USER",
        "PULSE_SMTP_PASSWORD",
        "PULSE_SMTP_TLS",
        "PULSE_THRESHOLD",
        "PULSE_THRESHOLD_PARTICIPATION",
        "PULSE_THRESHOLD_COMMENTS",
        "PULSE_DEV_OUTBOX",
        "PULSE_DB_POOL_SIZE",
    ):
        assert f"{name}=" in example, name
