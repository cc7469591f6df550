"""An id in a URL that no row can have is a 404 on every route, never a 500 (found by fuzzing:
/admin/webhooks/9223372036854775808 and /dev/outbox/9223372036854775808 answered 500)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pulse.people.models import Person
from tests.conftest import sign_in
from webapp.url_ids import MAX_ROW_ID


def id_urls(app: Flask, value: int) -> list[tuple[str, str]]:
    """(method, path) for every rule with an int argument, each set to `value`."""
    found = []
    for rule in app.url_map.iter_rules():
        if not any(c.__class__.__name__ == "RowIdConverter" for c in rule._converters.values()):
            continue
        path = re.sub(r"<int:[^>]+>", str(value), rule.rule)
        path = re.sub(r"<[^>]+>", "x", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


@pytest.mark.parametrize("value", [MAX_ROW_ID + 1, 2**63, 10**30])
def test_ids_beyond_any_row_are_not_found(
    app: Flask, client: FlaskClient, make_user: Callable[..., Person], value: int
) -> None:
    make_user("admin@example.org", role="admin")
    assert sign_in(client, "admin@example.org").status_code == 302
    urls = id_urls(app, value)
    assert any(path.startswith("/admin/webhooks/") for _, path in urls)
    for method, path in urls:
        assert client.open(path, method=method).status_code == 404, (method, path)


def test_the_largest_id_still_reaches_the_page(
    app: Flask, client: FlaskClient, make_user: Callable[..., Person]
) -> None:
    make_user("admin@example.org", role="admin")
    sign_in(client, "admin@example.org")
    for path in (f"/admin/webhooks/{MAX_ROW_ID}", f"/dev/outbox/{MAX_ROW_ID}"):
        response = client.get(path)
        assert response.status_code == 404, path  # the page's own "no such row"
        assert b"We could not find that page" in response.data
    assert app.url_map.bind("localhost").match(f"/admin/people/{MAX_ROW_ID}")[1] == {
        "person_id": MAX_ROW_ID
    }
