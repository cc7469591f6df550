"""No answer-link token in any log, and the answer page neither leaks nor caches its URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from flask import Flask
from gunicorn.config import Config
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.db import utcnow
from pulse.delivery.tokens import new_token
from pulse.surveys.models import Cycle
from tests.conftest import make_settings
from tests.support.delivery_org import make_org, make_schedule, token_for
from tests.support.smtp import SMTPServer
from webapp import create_app
from webapp.cli import main
from webapp.cli.run import gunicorn_command
from webapp.gunicorn_logging import TokenRedactingLogger
from webapp.log_redaction import redact
from worker.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
REDACTED = "/s/[token]"
TEST_APP = {"TESTING": True, "RATELIMIT_ENABLED": False}
EVERY_ATOM = (
    "%(r)s|%(U)s|%(q)s|%(f)s|%({referer}i)s|%({location}o)s|%({raw_uri}e)s|%({path_info}e)s"
)


def _env(database_url: str, redis_url: str, smtp_port: int, base_url: str) -> dict[str, str]:
    return {
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": redis_url,
        "PULSE_SECRET_KEY": "test-secret-key-that-is-long-enough-123",
        "PULSE_BASE_URL": base_url,
        "PULSE_MAIL_BACKEND": "smtp",
        "PULSE_SMTP_HOST": "127.0.0.1",
        "PULSE_SMTP_PORT": str(smtp_port),
        "PULSE_SMTP_TLS": "false",
    }


def _open_cycle(
    session: Session, env: dict[str, str], smtp_server: SMTPServer
) -> tuple[str, Cycle]:
    """One team of one, a schedule due now and `pulse tick`: the invitation email goes out."""
    org = make_org(session, {"Alpha": 1})
    now = utcnow()
    make_schedule(
        session,
        org,
        start_date=now.date(),
        weekday=now.weekday(),
        local_hour=now.hour,
        timezone="UTC",
        window_days=3,
        reminder_hours=[],
    )
    result = CliRunner().invoke(main, ["tick", "--now", now.isoformat()], env=env)
    assert result.exit_code == 0, result.output
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    return token, session.scalars(select(Cycle)).one()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited with code {process.returncode}"
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer /healthz in time")


def _stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


def test_gunicorn_logs_the_answer_route_without_its_token(
    tmp_path: Path,
    database_url: str,
    redis_server: EmbeddedRedis,
    smtp_server: SMTPServer,
    session: Session,
) -> None:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _env(database_url, redis_server.url, smtp_server.port, base_url)
    token, cycle = _open_cycle(session, env, smtp_server)
    logs = {name: tmp_path / f"{name}.log" for name in ("access", "error", "stdout", "stderr")}
    command = gunicorn_command(
        f"127.0.0.1:{port}", 1, access_log=str(logs["access"]), error_log=str(logs["error"])
    )
    with logs["stdout"].open("wb") as stdout, logs["stderr"].open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            _wait_until_up(process, base_url)
            link = f"{base_url}/s/{token}"
            item = cycle.items[0].item_id
            with urllib.request.urlopen(f"{link}?a={item}:5", timeout=10) as page:
                assert page.status == 200
            form = urllib.parse.urlencode(
                {f"item-{ci.item_id}": "4" for ci in cycle.items} | {"comment": "More pairing"}
            ).encode()
            # The 303 is followed to the saved page, which is logged too.
            submit = urllib.request.Request(link, data=form, headers={"Referer": link})
            with urllib.request.urlopen(submit, timeout=10) as saved:
                assert saved.status == 200
                assert "your answers are saved" in saved.read().decode()
            # A dead link (its error page) and a page reached from the answer page's URL.
            try:
                urllib.request.urlopen(f"{base_url}/s/{token[::-1]}", timeout=10)
            except urllib.error.HTTPError as dead:
                assert dead.code == 404
            visit = urllib.request.Request(f"{base_url}/healthz", headers={"Referer": link})
            with urllib.request.urlopen(visit, timeout=10) as reply:
                assert reply.status == 200
        finally:
            _stop(process)

    written = {name: path.read_text(errors="replace") for name, path in logs.items()}
    for name, text in written.items():
        assert token not in text, f"the token is in the {name} log"
        assert token[::-1] not in text, f"the dead link's token is in the {name} log"
    access = written["access"]
    assert f'"GET {REDACTED}?a={item}:5 HTTP/1.1" 200' in access
    assert f'"POST {REDACTED} HTTP/1.1" 303' in access
    assert f'"GET {REDACTED}?saved=1 HTTP/1.1" 200' in access
    assert f'"GET {REDACTED} HTTP/1.1" 404' in access
    referred = [line for line in access.splitlines() if f'"{base_url}{REDACTED}"' in line]
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in referred)


def _gunicorn_logger(tmp_path: Path, access_log_format: str) -> TokenRedactingLogger:
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("access_log_format", access_log_format)
    return TokenRedactingLogger(cfg)


def _answer_request(token: str) -> tuple[SimpleNamespace, SimpleNamespace, dict[str, str]]:
    """What gunicorn hands its logger for a submit that was redirected to the saved page."""
    link = f"https://pulse.example.org/s/{token}"
    headers = [("HOST", "pulse.example.org"), ("REFERER", link)]
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/s/{token}?a=12:5",
        "PATH_INFO": f"/s/{token}",
        "QUERY_STRING": f"a=12:5&next=%2Fs%2F{token}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": link,
        "HTTP_USER_AGENT": "Mail client",
    }
    response = SimpleNamespace(
        status="303 SEE OTHER", headers=[("Location", f"/s/{token}?saved=1")], sent=0
    )
    return response, SimpleNamespace(headers=headers), environ


def test_the_gunicorn_logger_redacts_every_atom_that_holds_the_link(tmp_path: Path) -> None:
    token = new_token()
    logger = _gunicorn_logger(tmp_path, EVERY_ATOM)
    response, request, environ = _answer_request(token)
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    leaking = {key for key, value in atoms.items() if isinstance(value, str) and token in value}
    assert not leaking
    assert atoms["r"] == f"POST {REDACTED}?a=12:5 HTTP/1.1"
    assert atoms["U"] == REDACTED
    assert atoms["q"] == "a=12:5&next=%2Fs%2F[token]"
    assert atoms["f"] == f"https://pulse.example.org{REDACTED}"
    assert atoms["{location}o"] == f"{REDACTED}?saved=1"
    assert atoms["h"] == "203.0.113.9" and atoms["m"] == "POST"  # the rest is untouched

    logger.access(response, request, environ, timedelta(milliseconds=3))
    line = (tmp_path / "access.log").read_text()
    assert token not in line
    assert line.strip() == "|".join(
        [
            f"POST {REDACTED}?a=12:5 HTTP/1.1",
            REDACTED,
            "a=12:5&next=%2Fs%2F[token]",
            f"https://pulse.example.org{REDACTED}",
            f"https://pulse.example.org{REDACTED}",
            f"{REDACTED}?saved=1",
            f"{REDACTED}?a=12:5",
            REDACTED,
        ]
    )


def test_the_gunicorn_logger_leaves_other_routes_alone(tmp_path: Path) -> None:
    logger = _gunicorn_logger(tmp_path, EVERY_ATOM)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/admin/cycles/7?page=2",
        "PATH_INFO": "/admin/cycles/7",
        "QUERY_STRING": "page=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://pulse.example.org/admin/cycles",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    assert atoms["r"] == "GET /admin/cycles/7?page=2 HTTP/1.1"
    assert atoms["U"] == "/admin/cycles/7" and atoms["q"] == "page=2"
    assert atoms["f"] == "https://pulse.example.org/admin/cycles"


def test_the_gunicorn_error_log_is_redacted_too(tmp_path: Path) -> None:
    token = new_token()
    logger = _gunicorn_logger(tmp_path, EVERY_ATOM)
    logger.error("Invalid request from ip=203.0.113.9: bad line 'GET /s/%s HTTP/9'", token)
    text = (tmp_path / "error.log").read_text()
    assert token not in text and f"GET {REDACTED} HTTP/9" in text


def _no_store_no_referrer(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_the_answer_route_sends_no_referrer_and_no_store_on_every_response(
    database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer, session: Session
) -> None:
    env = _env(database_url, redis_server.url, smtp_server.port, "http://127.0.0.1:5000")
    app = create_app({"PULSE": make_settings(database_url, redis_server.url, **env), **TEST_APP})
    try:
        token, cycle = _open_cycle(session, env, smtp_server)
        client = app.test_client()
        page = client.get(f"/s/{token}?a={cycle.items[0].item_id}:5")
        assert page.status_code == 200
        _no_store_no_referrer(page)
        refused = client.post(f"/s/{token}", data={"item-999999": "4"})
        assert refused.status_code == 422
        _no_store_no_referrer(refused)
        submitted = client.post(
            f"/s/{token}", data={f"item-{ci.item_id}": "4" for ci in cycle.items}
        )
        assert submitted.status_code == 303
        _no_store_no_referrer(submitted)
        saved = client.get(submitted.headers["Location"])
        assert saved.status_code == 200 and "your answers are saved" in saved.text
        _no_store_no_referrer(saved)
        for dead in (client.get("/s/" + "B" * 43), client.post("/s/" + "B" * 43, data={})):
            assert dead.status_code == 404
            _no_store_no_referrer(dead)
        wrong_method = client.put(f"/s/{token}")
        assert wrong_method.status_code == 405
        _no_store_no_referrer(wrong_method)
        # Elsewhere the site-wide policy (webapp/security_headers.py), which still sends no
        # path to other sites; the answer route's stricter one above is kept.
        assert client.get("/healthz").headers["Referrer-Policy"] == (
            "strict-origin-when-cross-origin"
        )
    finally:
        app.extensions["pulse.db"][0].dispose()


def test_an_unexpected_error_on_the_answer_route_is_logged_without_the_token(
    tmp_path: Path, redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    # A database with no tables: the answer page fails with a real OperationalError.
    database_url = f"sqlite:///{tmp_path / 'empty.db'}"
    app: Flask = create_app({"PULSE": make_settings(database_url, redis_server.url), **TEST_APP})
    token = new_token()
    try:
        with caplog.at_level("INFO"):
            reply = app.test_client().get(f"/s/{token}")
        assert reply.status_code == 500
        _no_store_no_referrer(reply)
    finally:
        app.extensions["pulse.db"][0].dispose()
    assert f"unhandled error on GET {REDACTED}" in caplog.text
    assert token not in caplog.text


@pytest.mark.parametrize(
    ("written", "logged"),
    [
        ("GET /s/{t}?a=3:4 HTTP/1.1", "GET /s/[token]?a=3:4 HTTP/1.1"),
        ("GET //s//{t} HTTP/1.1", "GET //s//[token] HTTP/1.1"),
        ("GET /%73/{t} HTTP/1.1", "GET /%73/[token] HTTP/1.1"),
        ("next=%2Fs%2F{t}&x=1", "next=%2Fs%2F[token]&x=1"),
        ("/s/[token]|other", "/s/[token]|other"),
        ("GET /shared/{t} HTTP/1.1", "GET /shared/[token] HTTP/1.1"),
        ("POST /digest/unsubscribe/{t} HTTP/1.1", "POST /digest/unsubscribe/[token] HTTP/1.1"),
        ("next=%2Fdigest%2Funsubscribe%2F{t}", "next=%2Fdigest%2Funsubscribe%2F[token]"),
        ("/static/site.css", "/static/site.css"),
        ("/digest/settings", "/digest/settings"),
    ],
)
def test_redact_replaces_the_token_of_each_spelling_of_an_answer_link(
    written: str, logged: str
) -> None:
    token = new_token()
    assert redact(written.format(t=token)) == logged
