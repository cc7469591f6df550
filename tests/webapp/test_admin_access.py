"""Every admin URL: anonymous visitors go to sign-in, members and leaders get 403."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.people.models import Person
from pulse.teams.tree import create_team
from tests.conftest import sign_in


def admin_urls(app: Flask) -> list[tuple[str, str]]:
    """(method, path) for every rule under /admin, with ids filled in as 1."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


@pytest.fixture
def org(session: Session) -> None:
    root = create_team(session, name="Acme", parent_id=None, kind="organisation")
    create_team(session, name="Web", parent_id=root.id)
    session.commit()


def test_the_admin_area_has_every_page(app: Flask) -> None:
    paths = {path for _, path in admin_urls(app)}
    for expected in (
        "/admin/people",
        "/admin/people/import",
        "/admin/teams",
        "/admin/settings",
        "/admin/cycles",
        "/admin/audit",
        "/admin/instrument",
        "/admin/leaders/invite",
    ):
        assert expected in paths


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, client: FlaskClient) -> None:
    for method, path in admin_urls(app):
        response = client.open(path, method=method)
        assert response.status_code == 302, (method, path)
        assert "/sign-in" in response.headers["Location"], (method, path)


@pytest.mark.parametrize("role", ["leader", "member"])
def test_leaders_and_members_are_refused_everywhere(
    app: Flask,
    client: FlaskClient,
    session: Session,
    org: None,
    make_user: Callable[..., Person],
    role: str,
) -> None:
    if role == "leader":
        make_user("lead@example.org", role="leader", team="Web")
    else:
        # A member with a password but no role: signs in, sees nothing of the admin.
        person = make_user("lead@example.org", role="admin")
        person.roles.clear()
        session.commit()
    assert sign_in(client, "lead@example.org").status_code == 302
    checked = 0
    for method, path in admin_urls(app):
        response = client.open(path, method=method, data={"name": "x"})
        assert response.status_code == 403, (method, path, response.status_code)
        checked += 1
    assert checked >= 20


def test_admin_home_links_every_area(client: FlaskClient, make_user: Callable[..., Person]) -> None:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for path in (
        "/admin/people",
        "/admin/teams",
        "/admin/schedules",
        "/admin/cycles",
        "/admin/settings",
        "/admin/instrument",
        "/admin/audit",
    ):
        assert f'href="{path}"' in html, path


def test_every_admin_page_renders_for_an_admin(
    app: Flask, client: FlaskClient, org: None, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    pages = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and not rule.arguments and "GET" in (rule.methods or ())
    ]
    assert len(pages) >= 9
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
