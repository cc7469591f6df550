"""Error pages: a request for a file Dash never registered is a 404, not a 500 (found by the
route fuzzer: /dashboard/_dash-component-suites/x/x answered 500)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from pulse.people.models import Person
from tests.conftest import sign_in


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/_dash-component-suites/x/x",
        "/dashboard/_dash-component-suites/dash/no/such/file.js",
        "/dashboard/_dash-component-suites/plotly/x.js",
    ],
)
def test_an_unregistered_dashboard_file_is_not_found(
    client: FlaskClient, make_user: Callable[..., Person], path: str
) -> None:
    make_user("leader@example.org", role="admin")
    assert sign_in(client, "leader@example.org").status_code == 302
    response = client.get(path)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "There is no such dashboard file." in page
    assert "registered" not in page  # Dash's own message lists every file it serves


def test_a_registered_dashboard_file_is_still_served(
    client: FlaskClient, make_user: Callable[..., Person]
) -> None:
    make_user("leader@example.org", role="admin")
    sign_in(client, "leader@example.org")
    page = client.get("/dashboard/").get_data(as_text=True)
    script = next(
        part.split('"')[0]
        for part in page.split('src="')[1:]
        if "_dash-component-suites" in part.split('"')[0]
    )
    assert client.get(script).status_code == 200
