"""A cycle's invitations fan out to several sending tasks on a real worker and SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.db import utcnow
from pulse.delivery.models import Invitation
from pulse.delivery.sending import CLAIM_SIZE
from pulse.surveys.scheduler import tick
from tests.conftest import make_settings
from tests.support.delivery_org import make_org, make_schedule
from tests.support.smtp import SMTPServer
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture
def settings(database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer) -> Settings:
    return make_settings(
        database_url,
        redis_server.url,
        PULSE_MAIL_BACKEND="smtp",
        PULSE_SMTP_HOST="127.0.0.1",
        PULSE_SMTP_PORT=str(smtp_server.port),
        PULSE_SMTP_TLS="false",
    )


@pytest.fixture
def worker_processes(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real prefork worker with three processes, as deployed, stopped by its own PID."""
    env = {
        **os.environ,
        "PULSE_ENV": settings.env,
        "PULSE_DATABASE_URL": settings.database_url,
        "PULSE_REDIS_URL": settings.redis_url,
        "PULSE_SECRET_KEY": settings.secret_key,
        "PULSE_MAIL_BACKEND": "smtp",
        "PULSE_SMTP_HOST": settings.smtp_host,
        "PULSE_SMTP_PORT": str(settings.smtp_port),
        "PULSE_SMTP_TLS": "false",
    }
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "worker.celery_app", "worker", "-P", "prefork", "-c", "3"]
    command += ["--without-mingle", "--without-gossip", "-l", "warning"]
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cycle_fans_out_one_share_per_batch_each_on_its_own_connection(
    app: Flask,
    session: Session,
    worker_processes: subprocess.Popen[bytes],
    smtp_server: SMTPServer,
) -> None:
    org = make_org(session, {"Alpha": 300, "Beta": 300})
    make_schedule(session, org)
    # The schedule's first cycle is due now: the tick opens it and creates its invitations.
    (cycle_id,) = tick(session, now=utcnow()).opened_cycle_ids
    session.commit()
    celery: Celery = app.extensions["celery"]
    celery.send_task("worker.delivery.send_invitations", args=[cycle_id])

    def all_sent() -> bool:
        session.rollback()
        states = session.scalars(
            select(Invitation.delivery_state).where(Invitation.cycle_id == cycle_id)
        )
        return set(states) == {"sent"}

    assert wait_for(all_sent)
    assert Counter(smtp_server.mailbox.recipients()) == Counter(org.all_emails())
    # Six batches went out over more than one connection: the shares ran side by side, and
    # never more connections than batches.
    assert 2 <= len(set(smtp_server.mailbox.peers)) <= -(-600 // CLAIM_SIZE)
