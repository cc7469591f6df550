"""The dashboard sits behind the web app's login, whatever the path under /dashboard/."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.people.models import Person
from pulse.teams.models import Membership, Team
from tests.conftest import sign_in

PATHS = [
    "/dashboard",
    "/dashboard/",
    "/dashboard/assets/bootstrap.min.css",
    "/dashboard/anything/deeper",
]
# Fetched by the page's scripts, not opened: they answer 401 for the script to act on.
DATA_PATHS = ["/dashboard/_dash-layout", "/dashboard/_dash-dependencies"]


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/sign-in?next=")


@pytest.mark.parametrize("path", DATA_PATHS)
def test_anonymous_data_requests_get_401(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.is_json


def test_anonymous_callback_posts_are_refused(client: FlaskClient) -> None:
    """An expired session's callback gets 401 JSON, not a redirect that fetch would follow
    to an HTML page: the page's script sends the browser to sign-in and back."""
    response = client.post("/dashboard/_dash-update-component", json={"output": "x"})
    assert response.status_code == 401
    assert "sign in" in response.get_json()["error"]


def test_leader_reaches_the_dashboard(
    client: FlaskClient, make_user: Callable[..., Person], session: Session
) -> None:
    session.add(Team(name="Platform"))
    session.commit()
    make_user("lead@example.org", role="leader", team="Platform")
    sign_in(client, "lead@example.org")
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/dashboard/_dash-layout").status_code == 200
    assert client.get("/dashboard/assets/bootstrap.min.css").status_code == 200


def test_members_have_no_dashboard(
    client: FlaskClient, make_user: Callable[..., Person], session: Session
) -> None:
    # A person with a password but neither admin nor leader: signs in, sees no dashboard.
    team = Team(name="Platform")
    session.add(team)
    session.commit()
    person = make_user("lead@example.org", role="leader", team="Platform")
    person.roles.clear()
    session.add(Membership(person_id=person.id, team_id=team.id, started_on=team.created_at.date()))
    session.commit()
    sign_in(client, "lead@example.org")
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/dashboard/_dash-layout").status_code == 403
