"""The issue's story: an admin imports 200 people (a bad file first), assigns a leader, sets the
threshold and finds every step in the audit log; the leader is refused every admin page."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.organisation.service import get_settings
from pulse.people.models import Person
from pulse.people.service import set_password
from pulse.teams.models import Team
from tests.conftest import PASSWORD, sign_in
from tests.support.people_csv import bad_people_file, people_rows, to_csv
from tests.support.task_queue import empty_queue
from tests.webapp.test_admin_access import admin_urls
from worker.embedded_redis import EmbeddedRedis


@pytest.fixture(autouse=True)
def _leave_the_queue_empty(redis_server: EmbeddedRedis) -> Iterator[None]:
    """Pages here queue real tasks; a worker started by a later test must not run them."""
    yield
    empty_queue(redis_server.url)


def upload(client: FlaskClient, content: bytes) -> str:
    data = {"file": (io.BytesIO(content), "people.csv")}
    response = client.post("/admin/people/import", data=data, content_type="multipart/form-data")
    return response.get_data(as_text=True)


def test_admin_story(
    app: Flask, client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")

    bad, expected = bad_people_file(200)
    html = upload(client, bad)
    assert all(f"<td>{line}</td>" in html for line in expected)
    assert session.scalar(select(func.count()).select_from(Person)) == 1

    html = upload(client, to_csv(people_rows(200)))
    payload = html.split('name="payload" type="hidden" value="', 1)[1].split('"', 1)[0]
    assert client.post("/admin/people/import/confirm", data={"payload": payload}).status_code == 302
    assert session.scalar(select(func.count()).select_from(Person)) == 201

    web = session.scalars(select(Team).where(Team.name == "Payments")).one()
    client.post(f"/admin/teams/{web.id}/leaders", data={"email": "person0100@example.org"})
    client.post("/admin/settings", data={"name": "Acme", "timezone": "UTC", "threshold": 7})
    assert get_settings(session).threshold == 7

    log = client.get("/admin/audit").get_data(as_text=True)
    for action in ("admin.sign_in", "people.import", "leader.assign", "settings.update"):
        assert f"<code>{action}</code>" in log
    newest_first = [log.index(f"<code>{a}</code>") for a in ("settings.update", "leader.assign")]
    assert newest_first[0] < newest_first[1] < log.index("<code>people.import</code>")

    leader = session.scalars(select(Person).where(Person.email == "person0100@example.org")).one()
    set_password(session, person=leader, password=PASSWORD)
    session.commit()
    client.post("/sign-out")
    assert sign_in(client, "person0100@example.org").status_code == 302
    for method, path in admin_urls(app):
        assert client.open(path, method=method).status_code == 403, (method, path)
