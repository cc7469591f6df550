"""Shared fixtures: real SQLite/PostgreSQL databases, an embedded Redis, an SMTP server, the app."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import make_engine, make_session_factory
from pulse.migrate import upgrade
from pulse.people.models import Person
from pulse.people.service import create_user
from pulse.surveys.bank import sync_item_bank
from tests.support.postgres import LocalPostgres, find_bindir
from tests.support.smtp import SMTPServer
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct horse battery"


def _prepare(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        sync_item_bank(session)
        session.commit()
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """An admin URL of a PostgreSQL server: PULSE_TEST_POSTGRES_URL, or one started here."""
    given = os.environ.get("PULSE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bindir = find_bindir()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required under CI but no initdb was found")
        pytest.skip("no PostgreSQL here (set PULSE_TEST_POSTGRES_URL or install postgresql)")
    server = LocalPostgres(bindir)
    try:
        url = server.start()
    except Exception as exc:
        server.stop()
        if IN_CI:
            raise
        pytest.skip(f"could not start a local PostgreSQL: {exc}")
    yield url
    server.stop()


_pg_counter = itertools.count()


def _pg_admin(server_url: str) -> Any:
    return create_engine(server_url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> str:
    admin = _pg_admin(postgres_server_url)
    name = f"pulse_template_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    _prepare(url)
    return name


def fresh_postgres(server_url: str, template: str | None) -> str:
    admin = _pg_admin(server_url)
    name = f"pulse_test_{os.getpid()}_{next(_pg_counter)}"
    with admin.connect() as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated database with the item bank: SQLite by default, PostgreSQL when asked."""
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server_url")
        return fresh_postgres(server, request.getfixturevalue("postgres_template"))
    path = tmp_path / "pulse.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _empty_redis_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Queued tasks and rate-limit counters never leak from one test into the next."""
    yield
    if "redis_server" in request.fixturenames:
        server: EmbeddedRedis = request.getfixturevalue("redis_server")
        redis.Redis(unix_socket_path=str(server.socket)).flushall()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


def make_settings(database_url: str, redis_url: str, **overrides: str) -> Settings:
    env = {
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": redis_url,
        "PULSE_SECRET_KEY": "test-secret-key-that-is-long-enough-123",
        "PULSE_BASE_URL": "http://127.0.0.1:5000",
        "PULSE_MAIL_BACKEND": "outbox",
    }
    env.update(overrides)
    return Settings.from_env(env)


@pytest.fixture
def settings(database_url: str, redis_server: EmbeddedRedis) -> Settings:
    return make_settings(database_url, redis_server.url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(
        {"PULSE": settings, "TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}
    )
    yield app
    app.extensions["pulse.db"][0].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session of its own on the app's database (not the request's)."""
    factory = app.extensions["pulse.db"][1]
    with factory() as session:
        yield session


@pytest.fixture
def make_user(session: Session) -> Callable[..., Person]:
    def make(email: str, role: str = "admin", team: str | None = None) -> Person:
        person = create_user(session, email=email, password=PASSWORD, role=role, team_name=team)
        session.commit()
        return person

    return make


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/sign-in", data={"email": email, "password": password})
