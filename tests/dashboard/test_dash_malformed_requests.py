"""Malformed Dash callback bodies answer 4xx, never 5xx, and write nothing (Hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.audit.models import AuditEvent
from pulse.people.models import Person
from tests.conftest import sign_in
from tests.dashboard.conftest import World

ROUTE = "/dashboard/_dash-update-component"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _valid_body(dependency: dict[str, Any]) -> dict[str, Any]:
    """A body of the shape the browser sends for this callback."""
    output = dependency["output"]
    if output.startswith(".."):
        parts = output[2:-2].split("...")
        outputs: Any = [dict(zip(("id", "property"), p.split(".", 1), strict=True)) for p in parts]
    else:
        outputs = dict(zip(("id", "property"), output.split(".", 1), strict=True))
    return {
        "output": output,
        "outputs": outputs,
        "inputs": [{**i, "value": None} for i in dependency["inputs"]],
        "state": [{**s, "value": None} for s in dependency["state"]],
        "changedPropIds": [],
    }


@st.composite
def malformed(draw: st.DrawFn, dependencies: list[dict[str, Any]]) -> Any:
    """Bodies that are not what the browser sends: the literal cases of the report, any
    JSON, and valid bodies with a key dropped, replaced, or its list cut short or emptied."""
    kind = draw(st.sampled_from(["literal", "any", "drop", "replace", "cut", "unknown"]))
    if kind == "literal":
        return draw(st.sampled_from([None, [], {}, "", 0, {"output": None}, {"inputs": []}]))
    if kind == "any":
        return draw(json_values)
    body = _valid_body(draw(st.sampled_from(dependencies)))
    key = draw(st.sampled_from(["output", "outputs", "inputs", "state"]))
    if kind == "drop":
        body.pop(key)
        if key == "state" and not body.get("state", []):
            body.pop("output")  # dropping an empty state is still valid: break something
    elif kind == "replace":
        replacement = draw(json_values)
        if replacement == body[key]:
            replacement = {"not": "it"}
        body[key] = replacement
    elif kind == "cut":
        body["inputs"] = body["inputs"][: draw(st.integers(0, len(body["inputs"]) - 1))]
    else:
        body["output"] = draw(st.sampled_from(["nope.children", "x", "..a.b...c.d.."]))
    return body


def _writes(session: Session) -> tuple[int, int]:
    session.rollback()
    actions = session.scalar(select(func.count()).select_from(TeamAction)) or 0
    events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return actions, events


@pytest.fixture
def admin_client(
    client: FlaskClient, make_user: Callable[..., Person], world: World
) -> FlaskClient:
    make_user("admin@example.org", role="admin")
    assert sign_in(client, "admin@example.org").status_code == 302
    return client


def test_the_reported_bodies_answer_400(admin_client: FlaskClient) -> None:
    dependency = admin_client.get("/dashboard/_dash-dependencies").json[0]  # type: ignore[index]
    no_inputs = {**_valid_body(dependency), "inputs": []}
    unknown = {**_valid_body(dependency), "output": "nope.children"}
    missing = {k: v for k, v in _valid_body(dependency).items() if k != "outputs"}
    for body in (None, [], no_inputs, unknown, missing):
        response = admin_client.post(ROUTE, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400, body
    bad_json = admin_client.post(ROUTE, data="{", content_type="application/json")
    assert bad_json.status_code == 400


def test_a_valid_body_still_gets_through(admin_client: FlaskClient) -> None:
    dependencies = admin_client.get("/dashboard/_dash-dependencies").json
    assert dependencies
    overview = next(d for d in dependencies if "overview-heatmap.figure" in d["output"])
    response = admin_client.post(ROUTE, json=_valid_body(overview))
    assert response.status_code in {200, 204}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_malformed_body_gets_a_5xx_or_writes(
    admin_client: FlaskClient, session: Session, data: st.DataObject
) -> None:
    dependencies = admin_client.get("/dashboard/_dash-dependencies").json
    body = data.draw(malformed(dependencies))  # type: ignore[arg-type]
    before = _writes(session)
    response = admin_client.post(ROUTE, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, (body, response.status_code)
    assert 400 <= response.status_code < 500, (body, response.status_code)
    assert _writes(session) == before
